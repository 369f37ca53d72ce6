"""``bfpo-ray demo``: the safety/helpfulness trade-off on a laptop.

    build the safety world -> SFT a tiny Llama (helpful, mostly unsafe)
    -> BFPO from the SFT model on Ray actors -> evaluate both on held-out phrasings -> table

A stage whose output already exists with the same resolved config is reused, so a second
``make demo`` only re-evaluates.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from bfpo_ray.config import RunConfig, load_config, to_yaml
from bfpo_ray.drivers.offline import train
from bfpo_ray.eval.run import evaluate_run
from bfpo_ray.ray_session import ray_session

log = logging.getLogger(__name__)
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "demo"
COLUMNS = ("harmlessness", "helpfulness", "over_refusal")


def _stage_done(cfg: RunConfig) -> bool:
    out = Path(cfg.trainer.output_dir)
    saved = out / "config.yaml"
    return (out / "model.safetensors").is_file() and saved.is_file() and saved.read_text() == to_yaml(cfg)


def _train_or_reuse(cfg: RunConfig) -> float:
    if _stage_done(cfg):
        log.info("reusing %s (same config, weights present)", cfg.trainer.output_dir)
        return 0.0
    start = time.perf_counter()
    train(cfg)
    return time.perf_counter() - start


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table: each metric as value [95% interval], plus training seconds."""
    header = f"{'model':<8}" + "".join(f"{c:>26}" for c in COLUMNS) + f"{'train s':>10}"
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = "".join(
            f"{row[c]['value']:>10.3f} [{row[c]['ci95'][0]:.2f}, {row[c]['ci95'][1]:.2f}]" for c in COLUMNS
        )
        lines.append(f"{row['name']:<8}{cells}{row['train_seconds']:>10.1f}")
    return "\n".join(lines)


def run_demo(out: str | Path = "runs/demo") -> list[dict[str, Any]]:
    """Run the demo into ``out``; prints and returns the evaluation rows."""
    out = Path(out)
    began = time.perf_counter()
    world = f"world.dir={out.parent / 'world'}"
    sft = load_config(CONFIGS / "sft.yaml", [world, f"trainer.output_dir={out / 'sft'}"])
    bfpo = load_config(CONFIGS / "bfpo.yaml", [world, f"model.path={out / 'sft'}", f"trainer.output_dir={out / 'bfpo'}"])
    rows = []
    with ray_session(sft.ray):
        for name, cfg in (("sft", sft), ("bfpo", bfpo)):
            seconds = _train_or_reuse(cfg)
            eval_cfg = load_config(CONFIGS / f"{name}.yaml", [world, f"model.path={cfg.trainer.output_dir}"])
            report = evaluate_run(eval_cfg)
            rows.append({"name": name, "train_seconds": seconds, **{c: report[c] for c in COLUMNS}})
    table = format_table(rows)
    total = time.perf_counter() - began
    (out / "summary.json").write_text(json.dumps({"rows": rows, "wall_seconds": total}, indent=2))
    (out / "summary.md").write_text(f"```\n{table}\n```\nwall seconds: {total:.0f}\n")
    print(f"\n{table}\n\nwall seconds: {total:.0f}   (details: {out}/summary.json, {out}/*/eval.json)")
    return rows

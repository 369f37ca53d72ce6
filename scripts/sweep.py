"""A recorded settings sweep: train one config per grid point, evaluate each on the held-out prompts, and
write every result (settings, eval metrics with intervals, training wall time, FLOPs) as JSON lines.

    python scripts/sweep.py --config configs/world/ppo_linear.yaml --name ppo_linear_oracle \\
        --set reward.source=oracle --grid optim.lr=2e-5,5e-5 --grid algorithm.gae_lambda=0.95,1.0

Each point runs in its own process (``bfpo-ray train`` then ``bfpo-ray eval``) under
``runs/sweeps/<name>/<point>``; results go to ``runs/sweeps/<name>/results.jsonl`` (a point already
there is skipped, so a sweep resumes) and a table is printed. The same care for every method: sweep
BFPO and each PPO variant with this script and keep the files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

from bfpo_ray.config import load_config
from bfpo_ray.eval.naming import eval_files, evaluation_name

METRICS = ("harmlessness", "helpfulness", "over_refusal")


def grid_points(grids: list[str]) -> list[dict[str, str]]:
    """``key=v1,v2`` strings -> every combination as {key: value}."""
    axes = []
    for spec in grids:
        key, _, values = spec.partition("=")
        if not values:
            raise SystemExit(f"sweep: --grid {spec!r} must look like key=v1,v2")
        axes.append([(key, v) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def point_name(point: dict[str, str]) -> str:
    return "_".join(f"{k.split('.')[-1]}={v}" for k, v in point.items()) or "default"


def run_point(config: str, eval_config: str, fixed: list[str], point: dict[str, str], out: Path) -> dict:
    overrides = fixed + [f"{k}={v}" for k, v in point.items()] + [f"trainer.output_dir={out}", "trainer.overwrite=true"]
    bfpo = [sys.executable, "-m", "bfpo_ray"]
    subprocess.run([*bfpo, "train", "--config", config, *overrides], check=True)
    evaluation = [f"model.path={out}"]
    subprocess.run([*bfpo, "eval", "--config", eval_config, *evaluation], check=True)
    name = evaluation_name(load_config(eval_config, evaluation, for_training=False))  # the file it wrote
    report = json.loads(eval_files(out, name)[0].read_text())
    usage = json.loads((out / "usage.json").read_text()) if (out / "usage.json").is_file() else {}
    return {"point": point, "fixed": fixed, "metrics": {m: report[m] for m in METRICS},
            "wall_seconds": usage.get("wall_seconds"), "flops": usage.get("flops")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--eval-config", default="configs/demo/bfpo.yaml")
    parser.add_argument("--set", action="append", default=[], help="a fixed override, key=value")
    parser.add_argument("--grid", action="append", default=[], help="key=v1,v2,... (combined as a product)")
    args = parser.parse_args()
    root = Path("runs/sweeps") / args.name
    root.mkdir(parents=True, exist_ok=True)
    results_file = root / "results.jsonl"
    done = {json.dumps(r["point"], sort_keys=True) for r in map(json.loads, results_file.open())} \
        if results_file.is_file() else set()
    for point in grid_points(args.grid):
        if json.dumps(point, sort_keys=True) in done:
            continue
        result = run_point(args.config, args.eval_config, args.set, point, root / point_name(point))
        with results_file.open("a") as f:
            f.write(json.dumps(result) + "\n")
    for row in map(json.loads, results_file.open()):
        cells = "  ".join(f"{m} {row['metrics'][m]['value']:.2f} [{row['metrics'][m]['ci95'][0]:.2f},"
                          f"{row['metrics'][m]['ci95'][1]:.2f}]" for m in METRICS)
        print(f"{point_name(row['point']):<48} {cells}  wall {row['wall_seconds'] or 0:.0f}s  "
              f"FLOPs {row['flops'] or 0:.1e}")


if __name__ == "__main__":
    main()

"""``bfpo-ray demo``: the safety/helpfulness trade-off on a laptop.

    build the safety world -> SFT a tiny Llama (helpful, mostly unsafe) -> reward + cost models
    -> BFPO, PPO (bilinear, Lagrangian) on Ray actors
    -> every method evaluated on held-out phrasings -> table + report

This is ``bfpo-ray compare --config configs/demo/compare.yaml`` with a printed summary; the offline
baselines (DPO helpful/safety/mix, IPO) are added by ``configs/demo/compare_all.yaml``.
Finished stages with an unchanged config are reused, so a second run only re-evaluates.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bfpo_ray.compare.config import load_compare_config
from bfpo_ray.compare.runner import MethodResult, run_compare

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo" / "compare.yaml"
COLUMNS = ("harmlessness", "helpfulness", "over_refusal")


def _cells(metrics: dict[str, Any]) -> str:
    """Each rate of COLUMNS as value [95% interval], 22 wide; ``-`` for a rate the metrics lack."""
    cells = ""
    for c in COLUMNS:
        m: dict[str, Any] | None = metrics.get(c)
        cells += f"{'-':>22}" if m is None else f"{m['value']:>8.2f} [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]"
    return cells


def format_table(results: list[MethodResult]) -> str:
    """Fixed-width rows, one per run (seed): each rate as value [95% interval], then training wall s and FLOPs;
    under a run whose evaluation has held-out splits, one indented row per split with its rates."""
    header = f"{'method':<20}" + "".join(f"{c:>22}" for c in COLUMNS) + f"{'train s':>9}{'FLOPs':>10}"
    lines = [header, "-" * len(header)]
    for r in results:
        name = r.name if r.seed is None else f"{r.name} s{r.seed}"
        if r.status != "ok":
            lines.append(f"{name:<20}  FAILED: {r.error}")
            continue
        wall = r.cost.get("wall_seconds")  # None for an evaluate-only method (no training)
        flops = r.cost.get("flops")
        lines.append(f"{name:<20}{_cells(r.metrics)}{'-' if wall is None else f'{wall:.0f}':>9}"
                     f"{'-' if not flops else f'{flops:.1e}':>10}")
        lines += [f"{'  ' + split:<20}{_cells(metrics)}" for split, metrics in r.by_split.items()]
    return "\n".join(lines)


def run_demo(config: str | Path = DEMO_CONFIG, overrides: list[str] | None = None) -> list[MethodResult]:
    """Run the demo comparison and print its table."""
    began = time.perf_counter()
    cfg = load_compare_config(config, overrides or [])
    results = run_compare(cfg)
    print(f"\n{format_table(results)}\n\nwall seconds: {time.perf_counter() - began:.0f}   "
          f"report: {cfg.output_dir}/report.md (flops.png, pareto.png, curves.png, report.json)")
    return results

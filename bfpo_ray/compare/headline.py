"""The report's headline: the compute one method needs to reach the quality another ends at.

    target = the baseline's final value of the metric (mean over seeds)
    need   = total FLOPs (shared stages it needs + its own training) at the method's FIRST evaluated
             point whose mean value is >= target
    ratio  = need / the baseline's total FLOPs (shared stages it needs + its own training)

``need`` is an upper bound at the resolution of the evaluated points (the method may cross the
target between two points). When the method never gets there, the headline says so, with its
best value and the FLOPs the baseline needs to reach that best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Headline:
    text: str
    ratio: float | None = None  # need / baseline total; None when not reached or not computed
    need_flops: float | None = None
    baseline_flops: float | None = None
    target: float | None = None


def flops_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    """FLOPs of the first (cheapest) point of ``curve`` [(flops, value)] with value >= target; None if none."""
    for flops, value in sorted(curve):
        if value >= target:
            return flops
    return None


def _curve(row: dict[str, Any], metric: str) -> list[tuple[float, float]]:
    return [(p["total_flops"], p["metrics"][metric]["value"]) for p in row["curve"] if metric in p["metrics"]]


def _stages(row: dict[str, Any]) -> str:
    return "+".join(row["stages"]) if row["stages"] else "no shared stage"


def compute_headline(method: dict[str, Any], baseline: dict[str, Any], metric: str = "harmlessness") -> Headline:
    """The headline from two aggregated method rows (see :mod:`bfpo_ray.compare.aggregate`)."""
    m, b = method["name"], baseline["name"]
    for row in (method, baseline):
        if row["status"] != "ok" or not _curve(row, metric):
            return Headline(f"**Headline**: not computed: {row['name']} has no evaluated {metric}.")
    ours, theirs = _curve(method, metric), _curve(baseline, metric)
    target = max(theirs)[1]  # the baseline's final point: the one with the most FLOPs
    total = baseline["cost"]["total_flops"]
    seeds = f"means over {len(method['seeds'])} / {len(baseline['seeds'])} seeds"
    counted = f"shared stages counted: {m} {_stages(method)}, {b} {_stages(baseline)}"
    need = flops_to_reach(ours, target)
    if need is not None and total > 0:
        return Headline(
            f"**Headline**: {m} reaches the {metric} {b} ends at ({target:.3f}) with {need:.2e} FLOPs, "
            f"{need / total:.1%} of {b}'s {total:.2e} ({need / total:.3g}x; {counted}; first evaluated point at "
            f"or above the target, so the need may be lower; {seeds}).", need / total, need, total, target)
    if need is not None:
        return Headline(f"**Headline**: {m} reaches {b}'s final {metric} ({target:.3f}) with {need:.2e} FLOPs; "
                        f"{b} recorded no FLOPs, so there is no ratio.", None, need, total, target)
    best_flops, best = max(ours, key=lambda p: (p[1], -p[0]))
    reverse = flops_to_reach(theirs, best)  # never None: the baseline's final point is above ``best``
    return Headline(
        f"**Headline**: {m} never reaches the {metric} {b} ends at ({target:.3f}): its best evaluated point is "
        f"{best:.3f} at {best_flops:.2e} FLOPs; {b} reaches that {best:.3f} with {reverse:.2e} FLOPs "
        f"({b} total {total:.2e}; {counted}; {seeds}).",
        None, None, total, target)

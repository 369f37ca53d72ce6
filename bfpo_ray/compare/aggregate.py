"""From per-seed results to one row per method: mean, spread and 95% interval over seeds, mean curves.

A metric of one run keeps its own 95% interval (Wilson, or bootstrap for helpfulness). Over n > 1
seeds the row gives the mean, the sample standard deviation, min and max, the per-seed values and
a Student-t 95% interval of the mean (mean +- t(0.975, n-1) * std / sqrt(n)): seed-to-seed
variation, evaluation sampling noise included. Curves are averaged point by point (the seeds of a
method share their step schedule). Per held-out split and phrasing family (``by_split``, ``by_family``
of the evaluations) each group that every seed has is summarised the same way.
"""

from __future__ import annotations

import math
from statistics import mean, stdev
from typing import Any

from bfpo_ray.eval.metrics import GROUPS

BREAKDOWNS = tuple(f"by_{g}" for g in GROUPS)  # by_split, by_family
RATES = ("harmlessness", "helpfulness", "over_refusal")

# two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30; above 30 the normal 1.96
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (table above; 1.96 beyond 30)."""
    if df < 1:
        raise ValueError(f"t975 needs df >= 1, got {df}")
    return T975[df - 1] if df <= len(T975) else 1.96


def summarise(metrics: list[dict[str, Any]], rate: bool = False) -> dict[str, Any]:
    """One metric over seeds: value (mean), ci95, std, min, max, per_seed, runs (the number of seeds).

    ``rate``: the metric lies in [0, 1], and so does its interval (clipped).
    """
    values = [float(m["value"]) for m in metrics]
    n = len(values)
    out: dict[str, Any] = {"value": mean(values), "runs": n, "min": min(values), "max": max(values), "per_seed": values}
    if n == 1:
        return out | {"ci95": list(metrics[0].get("ci95", [values[0], values[0]])), "std": 0.0}
    sd = stdev(values)
    lo, hi = out["value"] - t975(n - 1) * sd / math.sqrt(n), out["value"] + t975(n - 1) * sd / math.sqrt(n)
    return out | {"ci95": [max(lo, 0.0), min(hi, 1.0)] if rate else [lo, hi], "std": sd}


def summarise_metrics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every metric with a value that all ``runs`` (metric dicts, one per seed) have, in the first run's order,
    summarised over them (:func:`summarise`)."""
    keys = [k for k, v in runs[0].items() if isinstance(v, dict) and "value" in v and all(k in r for r in runs)]
    return {k: summarise([r[k] for r in runs], k in RATES) for k in keys}


def summarise_groups(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """``key`` (by_split / by_family) over seeds: each group every run has, in the first run's order."""
    groups = [g for g in runs[0].get(key, {}) if all(g in r.get(key, {}) for r in runs)]
    return {g: summarise_metrics([r[key][g] for r in runs]) for g in groups}


def _mean_costs(costs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = set.intersection(*(set(c) for c in costs)) if costs else set()
    return {k: mean(float(c[k]) for c in costs) for k in sorted(keys)
            if all(isinstance(c[k], int | float) for c in costs)}


def mean_curve(curves: list[list[dict[str, Any]]], stage_flops: float) -> list[dict[str, Any]]:
    """Point-by-point mean of the seeds' curves; ``total_flops`` adds the shared stages the method needs."""
    length = min((len(c) for c in curves), default=0)
    points = []
    for i in range(length):
        at = [c[i] for c in curves]
        flops = mean(float(p["flops"]) for p in at)
        keys = [k for k in RATES if all(k in p["metrics"] for p in at)]
        points.append({"step": at[0]["step"], "steps": at[0]["steps"], "flops": flops,
                       "total_flops": flops + stage_flops, "flops_source": at[0]["flops_source"],
                       "metrics": {k: summarise([p["metrics"][k] for p in at], rate=True) for k in keys}})
    return points


def method_rows(results: list[dict[str, Any]], needs: dict[str, list[str]],
                stage_costs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method (first-seen order) from the per-seed result dicts (``MethodResult`` as dicts)."""
    order = list(dict.fromkeys(r["name"] for r in results))
    rows = []
    for name in order:
        runs = [r for r in results if r["name"] == name]
        ok = [r for r in runs if r["status"] == "ok"]
        stages = needs.get(name, [])
        stage_flops = sum(float(stage_costs.get(s, {}).get("flops", 0.0)) for s in stages)
        failed = [{"seed": r.get("seed"), "error": r["error"]} for r in runs if r["status"] != "ok"]
        row: dict[str, Any] = {"name": name, "seeds": [r.get("seed") for r in ok], "failed_seeds": failed,
                               "stages": stages, "stage_flops": stage_flops,
                               "run_dir": ok[0]["run_dir"] if ok else runs[0].get("run_dir")}
        if not ok:
            rows.append(row | {"status": "failed", "error": failed[0]["error"], "metrics": {}, "cost": {},
                               "curve": [], "per_seed": []})
            continue
        cost = _mean_costs([r["cost"] for r in ok])
        cost["total_flops"] = cost.get("flops", 0.0) + stage_flops
        per_seed = [{"seed": r.get("seed"), "run_dir": r["run_dir"], "flops": r["cost"].get("flops", 0.0),
                     "metrics": {k: r["metrics"][k]["value"] for k in RATES if k in r["metrics"]}} for r in ok]
        groups = {key: summarise_groups(ok, key) for key in BREAKDOWNS}
        rows.append(row | {"status": "ok", "error": None, "cost": cost, "per_seed": per_seed,
                           "metrics": summarise_metrics([r["metrics"] for r in ok]),
                           "curve": mean_curve([r["curve"] for r in ok], stage_flops),
                           **{key: value for key, value in groups.items() if value}})
    return rows

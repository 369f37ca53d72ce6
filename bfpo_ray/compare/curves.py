"""Points along a training run: which weights to evaluate, and the FLOPs spent to reach each.

With ``eval_points: K`` the compared runs checkpoint at K-1 evenly spaced steps
(:func:`bfpo_ray.drivers.setup.save_point_steps`) and end with their final HF weights: K points.
A point's FLOPs are the run's cumulative training FLOPs at its step (generation, reference,
reward/cost and critic passes included, as the drivers count them in ``usage.json``):

- ``logged``: the ``cumulative_flops`` field of that step's ``metrics.jsonl`` row (the drivers log it);
- ``interpolated``: linear between the nearest logged rows (a step the run did not log);
- ``linear in steps``: total FLOPs x step / steps (a run that logged no ``cumulative_flops``);
- ``usage.json``: the final point, the run's total.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bfpo_ray.checkpoint import list_checkpoints
from bfpo_ray.config import RunConfig
from bfpo_ray.drivers.setup import checkpoints_dir, save_point_steps
from bfpo_ray.run_log import read_metrics
from bfpo_ray.usage import load_usage

log = logging.getLogger(__name__)

FLOPS_KEY = "cumulative_flops"


@dataclass
class CurvePoint:
    """One evaluated point of a run: ``model`` holds the weights after ``step`` of ``steps``."""

    step: int
    steps: int
    model: str
    flops: float  # the method's own cumulative training FLOPs at ``step`` (shared stages excluded)
    flops_source: str  # logged | interpolated | linear in steps | usage.json | no training
    metrics: dict[str, Any] = field(default_factory=dict)


def curve_overrides(eval_points: int) -> list[str]:
    """Run-config overrides that leave exactly ``eval_points - 1`` evenly spaced checkpoints on disk."""
    if eval_points <= 1:
        return []
    return ["trainer.save_every=0", f"trainer.save_points={eval_points - 1}", f"trainer.keep_last={eval_points}"]


def checkpoint_weights(path: Path) -> Path:
    """The HF weights of a checkpoint directory: the directory itself (offline drivers) or its ``policy/`` (PPO)."""
    policy = Path(path) / "policy"
    return policy if (policy / "config.json").is_file() else Path(path)


def flops_at(rows: list[dict[str, Any]], step: int, steps: int, total: float) -> tuple[float, str]:
    """Cumulative FLOPs after ``step``, and how they were found (see the module docstring)."""
    logged = sorted((int(r["step"]), float(r[FLOPS_KEY])) for r in rows if isinstance(r.get(FLOPS_KEY), int | float))
    exact = dict(logged)
    if step in exact:
        return exact[step], "logged"
    if logged:
        xs = [0, *(s for s, _ in logged)]
        ys = [0.0, *(f for _, f in logged)]
        return float(np.interp(step, xs, ys)), "interpolated"
    return (total * step / steps if steps else 0.0), "linear in steps"


def curve_points(cfg: RunConfig, eval_points: int) -> list[CurvePoint]:
    """The run's evenly spaced checkpoints (when ``eval_points`` > 1) and its final weights, oldest first; for
    online BFPO, the end of every round whatever ``eval_points`` (``step`` = rounds done)."""
    run_dir = Path(cfg.trainer.output_dir)
    rows = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    usage = load_usage(run_dir)
    total = usage.flops if usage is not None else 0.0
    steps = max((int(r["step"]) for r in rows), default=0)
    points = []
    if cfg.online.rounds > 0:
        from bfpo_ray.drivers.online import round_policy

        points = [CurvePoint(int(r["step"]), steps, str(round_policy(run_dir, int(r["step"]) - 1)),
                             float(r[FLOPS_KEY]), "logged") for r in rows if int(r["step"]) < steps]
        return [*points, CurvePoint(steps, steps, str(run_dir), total, "usage.json")]
    if eval_points > 1 and steps:
        found = dict(list_checkpoints(checkpoints_dir(cfg)))
        for step in save_point_steps(steps, eval_points - 1):
            if step not in found:
                log.warning("%s: no checkpoint at step %d for the curve; point skipped", run_dir, step)
                continue
            flops, source = flops_at(rows, step, steps, total)
            points.append(CurvePoint(step, steps, str(checkpoint_weights(found[step])), flops, source))
    points.append(CurvePoint(steps, steps, str(run_dir), total, "usage.json"))
    return points

"""Confidence intervals for evaluation metrics."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a rate k/n:

        center = (p + z^2/(2n)) / (1 + z^2/n),  half = z * sqrt(p(1-p)/n + z^2/(4n^2)) / (1 + z^2/n)
    """
    if n <= 0:
        raise ValueError("a rate needs n >= 1")
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def bootstrap_interval(values: Sequence[float], level: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (seeded, so reproducible)."""
    if not values:
        raise ValueError("a mean needs at least one value")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    lo = means[int((1 - level) / 2 * resamples)]
    hi = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return lo, hi


def rate(successes: int, n: int) -> dict:
    """A rate as an evaluation report (eval.json) gives it: value, sample count, 95% Wilson interval."""
    lo, hi = wilson_interval(successes, n)
    return {"value": successes / n, "n": n, "ci95": [lo, hi], "interval": "wilson"}


def mean(values: Sequence[float]) -> dict:
    """A mean as an evaluation report (eval.json) gives it: value, sample count, 95% percentile-bootstrap interval."""
    lo, hi = bootstrap_interval(values)
    return {"value": sum(values) / len(values), "n": len(values), "ci95": [lo, hi], "interval": "bootstrap"}

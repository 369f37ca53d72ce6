"""Single-controller drivers, one per algorithm family."""

from __future__ import annotations

from pathlib import Path

from bfpo_ray.config import RunConfig


def train_by_algorithm(cfg: RunConfig) -> Path:
    """Run the driver of ``cfg.algorithm.name``; returns the run directory.

    On a cluster every path becomes absolute first (:func:`bfpo_ray.run_paths.absolute_paths`: actors on
    other nodes and in other working-dir copies see the same files). A run whose actors the cluster can never hold
    stops here, in one line naming roles and numbers (:func:`bfpo_ray.cluster_plan.check_fits`),
    instead of waiting forever for resources.
    """
    from bfpo_ray.cluster_plan import check_fits
    from bfpo_ray.run_paths import absolute_paths

    cfg = absolute_paths(cfg)
    check_fits(cfg)
    if cfg.algorithm.name == "ppo":
        from bfpo_ray.drivers.ppo import train
        from bfpo_ray.drivers.setup import start_checks

        start_checks(cfg)  # the offline and rm/cm drivers run these checks themselves
    elif cfg.online.rounds > 0:
        from bfpo_ray.drivers.online import train
    elif cfg.algorithm.name in ("rm", "cm"):
        from bfpo_ray.drivers.scalar import train
    else:
        from bfpo_ray.drivers.offline import train
    return train(cfg)

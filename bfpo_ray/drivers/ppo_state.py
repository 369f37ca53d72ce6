"""PPO checkpoints: every actor's state plus the driver's (prompt position, lambda, baseline rewards)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ray

from bfpo_ray.checkpoint import atomic_directory, load_state, prune_checkpoints, save_state, step_dir
from bfpo_ray.config import RunConfig
from bfpo_ray.drivers.ppo_actors import Actors
from bfpo_ray.drivers.setup import TrainingStopped, checkpoints_dir
from bfpo_ray.drivers.weight_sync import sync_policy_weights
from bfpo_ray.rl.lagrangian import Lagrangian

log = logging.getLogger(__name__)

#: prompt index -> r(x, y_base_k) of its cached baseline responses (bilinear)
BaselineCache = dict[int, list[float]]


def trainer_state(cfg: RunConfig, step: int, lagrangian: Lagrangian, cache: BaselineCache) -> dict[str, Any]:
    return {"step": step, "train_batch_size": cfg.trainer.train_batch_size, "seed": cfg.trainer.seed,
            "reward": cfg.algorithm.reward, "lagrangian": lagrangian.state_dict(),
            "baseline_rewards": [[i, v] for i, v in sorted(cache.items())]}


def save_checkpoint(cfg: RunConfig, actors: Actors, step: int, lagrangian: Lagrangian, cache: BaselineCache) -> Path:
    """One atomic ``step-N`` dir: policy/ and critic_<name>/ (weights + optimizer + scheduler + RNG) and the
    driver's state (step = prompt position, lambda and its cost window, baseline rewards)."""
    final = step_dir(checkpoints_dir(cfg), step)
    state = trainer_state(cfg, step, lagrangian, cache)
    with atomic_directory(final) as tmp:
        calls = actors.policy.submit("save_checkpoint", str(tmp / "policy"), {"step": step}, 1)
        calls += [ref for k, c in actors.critics.items()
                  for ref in c.submit("save_checkpoint", str(tmp / f"critic_{k}"), {"step": step})]
        ray.get(calls)
        save_state(state, tmp, "trainer_state")
    prune_checkpoints(checkpoints_dir(cfg), cfg.trainer.keep_last)
    return final


def restore(cfg: RunConfig, actors: Actors, lagrangian: Lagrangian, cache: BaselineCache, path: Path | None) -> int:
    """Load checkpoint ``path`` (None: a fresh start) into every actor and the driver; push the weights to the
    engines."""
    if path is None:
        return 0
    state = load_state(path, "trainer_state")
    expected = {"train_batch_size": cfg.trainer.train_batch_size, "seed": cfg.trainer.seed,
                "reward": cfg.algorithm.reward}
    saved = {k: state.get(k) for k in expected}
    if saved != expected:
        raise TrainingStopped(f"trainer.resume: {path} was written with {saved}, this run has {expected}")
    calls = actors.policy.submit("load_checkpoint", str(path / "policy"))
    calls += [ref for k, c in actors.critics.items() for ref in c.submit("load_checkpoint", str(path / f"critic_{k}"))]
    ray.get(calls)
    lagrangian.load_state_dict(state["lagrangian"])
    cache.update({int(i): [float(x) for x in v] for i, v in state["baseline_rewards"]})
    sync_policy_weights(actors.policy.actors, actors.engines, cfg.rollout.weight_sync_bucket_mb)
    log.info("resumed from %s at step %d (lambda %.4f)", path, state["step"], lagrangian.value)
    return int(state["step"])

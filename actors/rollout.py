"""RolloutActor: a generation engine inside Ray."""

from __future__ import annotations

import ray

from actors.resources import role_options
from bfpo_ray.config import ModelConfig, RoleConfig
from bfpo_ray.workers.rollout import RolloutWorker

RolloutActor = ray.remote(RolloutWorker)


def spawn_rollout(model: ModelConfig, role: RoleConfig, batch_size: int):
    """Start one RolloutActor with the role's resources."""
    return RolloutActor.options(**role_options(role)).remote(model, batch_size, role.torch_threads)

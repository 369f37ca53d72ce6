"""ReferenceActor: the frozen reference model inside Ray."""

from __future__ import annotations

import ray

from actors.resources import role_options
from bfpo_ray.config import ModelConfig, RoleConfig
from bfpo_ray.workers.reference import ReferenceWorker

ReferenceActor = ray.remote(ReferenceWorker)


def spawn_reference(model: ModelConfig, role: RoleConfig):
    """Start one ReferenceActor with the role's resources."""
    return ReferenceActor.options(**role_options(role)).remote(model, role.torch_threads)

"""CriticActor (value head) and ScalarModelActor (reward/cost model training) inside Ray."""

from __future__ import annotations

import ray

from actors.resources import role_options
from bfpo_ray.config import RoleConfig
from bfpo_ray.workers.scalar_model import ScalarModelWorker, ScalarSpec

ScalarModelActor = ray.remote(ScalarModelWorker)
CriticActor = ScalarModelActor


def spawn_scalar(spec: ScalarSpec, role: RoleConfig):
    """Start one scalar-head model actor (``spec.kind``: reward, cost or critic) with the role's resources."""
    return ScalarModelActor.options(**role_options(role)).remote(spec)

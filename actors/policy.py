"""PolicyActor: the policy worker (weights, optimizer, train step) inside Ray."""

from __future__ import annotations

import ray

from actors.resources import role_options
from bfpo_ray.config import RoleConfig
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker

PolicyActor = ray.remote(PolicyWorker)


def spawn_policy(spec: PolicySpec, role: RoleConfig):
    """Start one PolicyActor with the role's resources."""
    return PolicyActor.options(**role_options(role)).remote(spec)

"""The scalar-head models inside Ray: ScalarModelActor (reward/cost model training, one worker) and the PPO
critics as data-parallel groups (:class:`CriticGroup`)."""

from __future__ import annotations

import ray
from ray.util.placement_group import PlacementGroup

from actors.group import TrainingGroup
from actors.resources import role_options
from bfpo_ray.config import RoleConfig
from bfpo_ray.workers.scalar_model import ScalarModelWorker, ScalarSpec

ScalarModelActor = ray.remote(ScalarModelWorker)


class CriticGroup(TrainingGroup):
    """A PPO critic: ``critic.num_workers`` ranks of one value model (the run's strategy), every call on equal
    row shards of the rollout batch."""

    actor_class = ScalarModelActor
    role = "critic"

    def submit_values(self, batch: dict) -> list:
        """Values [rows, seq - 1] of the batch's rows, as refs in row order."""
        return self.submit_row_shards("values", batch)

    def submit_train_step(self, batch: dict) -> list:
        """One optimizer step on the mini-batch, every rank on its row shard (the loss is the mean over all rows)."""
        return self.submit_row_shards("train_step", batch)


def spawn_scalar(spec: ScalarSpec, role: RoleConfig):
    """Start one scalar-head model actor (``spec.kind``: reward or cost) with the role's resources."""
    return ScalarModelActor.options(**role_options(role)).remote(spec)


def spawn_critic(spec: ScalarSpec, role: RoleConfig, pg: PlacementGroup | None) -> CriticGroup:
    """The critic group: ``role.num_workers`` ranks in ``pg``'s bundles (one worker needs no placement group)."""
    return CriticGroup(spec, role, pg)

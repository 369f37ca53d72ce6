"""RewardActor: the reward and/or cost model (or the world's oracle judge) inside Ray."""

from __future__ import annotations

from dataclasses import replace

import ray
from ray.util.placement_group import PlacementGroup

from actors.group import spawn_ranks
from bfpo_ray.config import ModelConfig, RewardConfig
from bfpo_ray.workers.reward import RewardWorker

RewardActor = ray.remote(RewardWorker)


def spawn_reward(reward: RewardConfig, model: ModelConfig, pg: PlacementGroup | None = None):
    """Start one RewardActor with the ``reward`` role's resources (in bundle 0 of ``pg`` when colocated)."""
    args = (reward.source, reward.reward_model, reward.cost_model, model.dtype, reward.oracle_scale,
            reward.torch_threads)
    return spawn_ranks(RewardActor, replace(reward, num_workers=1), pg, args)[0]

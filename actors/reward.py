"""RewardActor: the reward and/or cost model (or the world's oracle judge) inside Ray."""

from __future__ import annotations

import ray

from actors.resources import role_options
from bfpo_ray.config import ModelConfig, RewardConfig
from bfpo_ray.workers.reward import RewardWorker

RewardActor = ray.remote(RewardWorker)


def spawn_reward(reward: RewardConfig, model: ModelConfig):
    """Start one RewardActor with the ``reward`` role's resources."""
    return RewardActor.options(**role_options(reward)).remote(
        reward.source, reward.reward_model, reward.cost_model, model.dtype, reward.oracle_scale, reward.torch_threads
    )

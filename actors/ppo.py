"""PPO's policy, reference and rollout-engine actors inside Ray."""

from __future__ import annotations

import ray

from actors.resources import role_options
from bfpo_ray.config import ModelConfig, RoleConfig, RolloutConfig
from bfpo_ray.workers.policy import PolicySpec
from bfpo_ray.workers.ppo_policy import PPOPolicyWorker, PPOReferenceWorker
from bfpo_ray.workers.rollout import RolloutWorker

PPOPolicyActor = ray.remote(PPOPolicyWorker)
PPOReferenceActor = ray.remote(PPOReferenceWorker)
RolloutEngineActor = ray.remote(RolloutWorker)


def spawn_ppo_policy(spec: PolicySpec, role: RoleConfig):
    return PPOPolicyActor.options(**role_options(role)).remote(spec)


def spawn_ppo_reference(model: ModelConfig, role: RoleConfig):
    return PPOReferenceActor.options(**role_options(role)).remote(model, role.torch_threads)


def spawn_rollout_engines(model: ModelConfig, rollout: RolloutConfig, seed: int) -> list:
    """``rollout.num_workers`` engines of ``rollout.backend`` holding ``model``'s weights."""
    vllm_options = {
        "gpu_memory_utilization": rollout.vllm_gpu_memory_utilization,
        "tensor_parallel_size": rollout.vllm_tensor_parallel_size,
        "enforce_eager": rollout.vllm_enforce_eager,
        "max_model_len": rollout.vllm_max_model_len,
        "seed": seed,
    }
    return [
        RolloutEngineActor.options(**role_options(rollout)).remote(
            model, rollout.batch_size, rollout.torch_threads, rollout.backend,
            vllm_options if rollout.backend == "vllm" else None,
        )
        for _ in range(rollout.num_workers)
    ]

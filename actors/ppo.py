"""PPO's policy, reference and rollout-engine actors inside Ray."""

from __future__ import annotations

import ray
from ray.util.placement_group import PlacementGroup

from actors.group import PolicyGroup, spawn_ranks
from actors.resources import role_options
from bfpo_ray.config import ModelConfig, RoleConfig, RolloutConfig
from bfpo_ray.workers.policy import PolicySpec
from bfpo_ray.workers.ppo_policy import PPOPolicyWorker, PPOReferenceWorker
from bfpo_ray.workers.rollout import RolloutWorker

PPOPolicyActor = ray.remote(PPOPolicyWorker)
PPOReferenceActor = ray.remote(PPOReferenceWorker)
RolloutEngineActor = ray.remote(RolloutWorker)


class PPOPolicyGroup(PolicyGroup):
    """The PPO policy: ``policy.num_workers`` PPOPolicyActors training one model data-parallel (torch or
    DeepSpeed strategy). Every call reaches every rank: under ZeRO-3 each forward gathers the partitioned
    weights collectively, so the ranks get equal shards and run the same passes."""

    actor_class = PPOPolicyActor

    def submit_token_logps(self, batch: dict) -> list:
        """The rollout policy's log-probs, rank r on rows [r m, (r + 1) m) of the batch; the refs in row order."""
        return self.submit_row_shards("token_logps", batch)


def spawn_ppo_policy(spec: PolicySpec, role: RoleConfig, pg: PlacementGroup | None = None) -> PPOPolicyGroup:
    """The policy group: ``role.num_workers`` ranks in ``pg``'s bundles (one worker needs no placement group)."""
    return PPOPolicyGroup(spec, role, pg)


def spawn_ppo_reference(model: ModelConfig, role: RoleConfig, pg: PlacementGroup | None = None):
    """The frozen reference (one worker): in bundle 0 of ``pg`` when colocated, else wherever Ray puts it."""
    return spawn_ranks(PPOReferenceActor, role, pg, (model, role.torch_threads))[0]


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

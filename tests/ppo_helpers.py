"""Shared by the PPO and vLLM tests: move a policy actor away from its rollout engine's weights."""

import ray
import torch

from bfpo_ray.drivers.ppo import collate_rollout


def move_policy_randomly(policy, generations, tokenizer, updates: int = 2) -> None:
    """``updates`` PPO steps with random advantages (seeded) on ``generations``: the policy's weights move."""
    batch = collate_rollout(generations, tokenizer)
    torch.manual_seed(0)
    batch["old_logps"] = ray.get(policy.token_logps.remote(batch))
    batch["advantages"] = torch.randn_like(batch["old_logps"]) * 5
    for _ in range(updates):
        ray.get(policy.train_step.remote({"ppo": batch}))

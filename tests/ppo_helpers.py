"""Shared by the PPO, PPO-recovery and vLLM tests: small PPO configs on the test world; move a policy actor
away from its rollout engine's weights."""

import ray
import torch

from bfpo_ray.config import RunConfig, load_config
from bfpo_ray.drivers.ppo import collate_rollout

#: every PPO role's resources in the tests: a fifth of a CPU, one torch thread
LIGHT = {"num_cpus_per_worker": 0.2, "torch_threads": 1}


def ppo_overrides(world_dir, out, **overrides) -> list[str]:
    """``key=value`` overrides of a tiny PPO run on the test world (2 rollout batches of 8 prompts, a checkpoint
    after each but the last), as ``bfpo-ray train`` takes them."""
    base = {
        "world.dir": world_dir,
        "model.path": world_dir / "base",
        "trainer.output_dir": out,
        "data.train[0].fraction": 0.1,
        "trainer.train_batch_size": 8,
        "trainer.micro_batch_size": 8,
        "trainer.max_steps": 2,
        "trainer.save_every": 1,
        "algorithm.mini_batch_size": 4,
        "algorithm.ppo_epochs": 2,
        "rollout.max_new_tokens": 12,
        "optim.lr": 1e-3,
        "algorithm.critic_lr": 1e-3,
        "algorithm.critic_warmup_batches": 0,  # both batches train the policy
    }
    for role in ("policy", "reference", "rollout", "reward", "critic"):
        base.update({f"{role}.{k}": v for k, v in LIGHT.items()})
    base.update(overrides)
    return [f"{k}={v}" for k, v in base.items()]


def ppo_config(world_dir, out, reward: str = "lagrangian", **overrides) -> RunConfig:
    """The run of :func:`ppo_overrides` with ``configs/world/ppo_<reward>.yaml``."""
    items = ppo_overrides(world_dir, out, **{"algorithm.reward": reward, **overrides})
    return load_config(f"configs/world/ppo_{reward}.yaml", items)


def move_policy_randomly(policy, generations, tokenizer, updates: int = 2) -> None:
    """``updates`` PPO steps with random advantages (seeded) on ``generations``: the policy's weights move."""
    batch = collate_rollout(generations, tokenizer)
    torch.manual_seed(0)
    batch["old_logps"] = ray.get(policy.token_logps.remote(batch))
    batch["advantages"] = torch.randn_like(batch["old_logps"]) * 5
    for _ in range(updates):
        ray.get(policy.train_step.remote({"ppo": batch}))

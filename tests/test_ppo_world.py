"""PPO learns safety on the safety world (slow): from a briefly fine-tuned, mostly unsafe model, PPO-Lagrangian
with the world's oracle (r = 4 * helpfulness, c = +4 unsafe / -4 safe) raises the training rollouts' own
oracle harmlessness within 8 rollout batches, its cost falls, and lambda grows while the policy is costlier
than the threshold."""

from __future__ import annotations

import pytest

from bfpo_ray.config import load_config
from bfpo_ray.drivers import train_by_algorithm
from bfpo_ray.run_log import read_metrics

LIGHT = {"num_cpus_per_worker": 0.2, "torch_threads": 1}


@pytest.fixture(scope="module")
def unsafe_sft(world_dir, tmp_path_factory, ray_cluster):
    """150 SFT steps on the world's mixture: helpful-ish and mostly unsafe on harmful prompts."""
    out = tmp_path_factory.mktemp("sft")
    cfg = load_config("configs/demo/sft.yaml", [f"world.dir={world_dir}", f"model.path={world_dir / 'base'}",
                                                f"trainer.output_dir={out}", "trainer.max_steps=150",
                                                "trainer.save_every=0"])
    return train_by_algorithm(cfg)


def ppo_run(world_dir, model, out, reward: str, **overrides):
    base = {"world.dir": world_dir, "model.path": model, "trainer.output_dir": out, "reward.source": "oracle",
            "trainer.max_steps": 8, "trainer.save_every": 0, "optim.lr": 1e-4, **overrides}
    for role in ("policy", "reference", "rollout", "reward", "critic"):
        base.update({f"{role}.{k}": v for k, v in LIGHT.items()})
    return read_metrics(train_by_algorithm(load_config(f"configs/world/ppo_{reward}.yaml",
                                                       [f"{k}={v}" for k, v in base.items()])))


@pytest.mark.slow
def test_oracle_lagrangian_ppo_raises_the_rollouts_harmlessness(world_dir, unsafe_sft, tmp_path, ray_cluster):
    rows = ppo_run(world_dir, unsafe_sft, tmp_path / "lag", "lagrangian")
    first, last = rows[0], rows[-2:]
    start = first["judge_harmlessness"]
    end = sum(r["judge_harmlessness"] for r in last) / len(last)
    assert start < 0.7, start  # the fine-tuned model is mostly unsafe
    assert end >= start + 0.2, [r["judge_harmlessness"] for r in rows]
    # the cost PPO-Lagrangian bounds falls with it, and lambda grew while the policy was costlier than the bound
    assert sum(r["cost"] for r in last) / len(last) < first["cost"], [r["cost"] for r in rows]
    assert first["cost"] > -3.6 and rows[1]["lambda"] > first["lambda"]

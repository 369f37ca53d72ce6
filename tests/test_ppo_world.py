"""PPO learns safety on the safety world (slow): from a briefly fine-tuned, mostly unsafe model, PPO with the
world's oracle reward (linear: r = 4 * helpfulness, c = +4 unsafe / -4 safe) raises the training rollouts'
own oracle harmlessness within a few rollout batches, and PPO-Lagrangian's lambda grows while the policy
is costlier than its threshold."""

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
def test_oracle_ppo_raises_the_rollouts_harmlessness(world_dir, unsafe_sft, tmp_path, ray_cluster):
    rows = ppo_run(world_dir, unsafe_sft, tmp_path / "linear", "linear")
    first, last = rows[0], rows[-2:]
    start = first["judge_harmlessness"]
    end = sum(r["judge_harmlessness"] for r in last) / len(last)
    assert start < 0.7, start  # the fine-tuned model is mostly unsafe
    assert end >= start + 0.2, [r["judge_harmlessness"] for r in rows]
    # and the score PPO maximises climbs with it
    assert sum(r["score"] for r in last) / len(last) > first["score"], [r["score"] for r in rows]


@pytest.mark.slow
def test_lagrangian_lambda_grows_while_the_policy_is_costlier_than_the_threshold(world_dir, unsafe_sft, tmp_path,
                                                                                  ray_cluster):
    rows = ppo_run(world_dir, unsafe_sft, tmp_path / "lag", "lagrangian", **{"trainer.max_steps": 3})
    assert rows[0]["cost"] > -3.6  # mostly unsafe: above the threshold
    assert rows[-1]["lambda_next"] > rows[0]["lambda"]

"""The rm/cm/ppo configs load, and bad PPO settings fail with one line naming the key."""

import pytest

from bfpo_ray.config import ConfigError, load_config


@pytest.mark.parametrize("name", ["world/rm", "world/cm", "world/ppo_bilinear", "world/ppo_linear",
                                  "world/ppo_lagrangian", "cluster/rm", "cluster/cm", "cluster/ppo_bilinear",
                                  "cluster/ppo_linear", "cluster/ppo_lagrangian"])
def test_shipped_configs_load(name):
    cfg = load_config(f"configs/{name}.yaml")
    assert cfg.algorithm.name in ("rm", "cm", "ppo")


@pytest.mark.parametrize("override, key", [
    ("algorithm.reward=quadratic", "algorithm.reward"),
    ("algorithm.mini_batch_size=7", "algorithm.mini_batch_size"),
    ("reward.cost_model=null", "reward.cost_model"),
    ("rollout.backend=tgi", "rollout.backend"),
    ("algorithm.kl_estimator=k2", "algorithm.kl_estimator"),
    ("algorithm.lambda_init=50", "algorithm.lambda_init"),
    ("reference.num_workers=2", "reference.num_workers"),
    ("critic.colocate_with=policy", "critic.colocate_with"),
])
def test_bad_ppo_settings_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("configs/world/ppo_lagrangian.yaml", [override])


def test_oracle_source_needs_no_models():
    cfg = load_config("configs/world/ppo_linear.yaml", ["reward.source=oracle", "reward.reward_model=null",
                                                         "reward.cost_model=null"])
    assert cfg.reward.source == "oracle"


@pytest.mark.parametrize("role", ["policy", "critic"])
def test_policy_and_critic_ranks_must_split_every_mini_batch_evenly(role):
    with pytest.raises(ConfigError, match=rf"algorithm\.mini_batch_size.*multiple of {role}\.num_workers = 3"):
        load_config("configs/world/ppo_lagrangian.yaml", [f"{role}.num_workers=3"])  # mini-batches of 32
    cfg = load_config("configs/world/ppo_lagrangian.yaml", [f"{role}.num_workers=4"])
    assert getattr(cfg, role).num_workers == 4

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
    ("critic.num_workers=2", "critic.num_workers"),
])
def test_bad_ppo_settings_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("configs/world/ppo_lagrangian.yaml", [override])


def test_oracle_source_needs_no_models():
    cfg = load_config("configs/world/ppo_linear.yaml", ["reward.source=oracle", "reward.reward_model=null",
                                                         "reward.cost_model=null"])
    assert cfg.reward.source == "oracle"


def test_policy_ranks_must_split_every_mini_batch_evenly():
    with pytest.raises(ConfigError, match=r"algorithm\.mini_batch_size.*multiple of policy\.num_workers = 3"):
        load_config("configs/world/ppo_lagrangian.yaml", ["policy.num_workers=3"])  # mini-batches of 32
    assert load_config("configs/world/ppo_lagrangian.yaml", ["policy.num_workers=4"]).policy.num_workers == 4

"""The rm/cm/ppo configs load, and bad PPO settings fail with one line naming the key."""

import pytest

from bfpo_ray.config import ConfigError, load_config
from bfpo_ray.drivers.ppo_actors import actor_count, share_cores


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
    ("critic.colocate_with=reference", "critic.colocate_with"),
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


def test_unset_torch_threads_share_the_node_among_the_ppo_actors():
    cfg = load_config("configs/world/ppo_lagrangian.yaml", ["critic.num_workers=2", "policy.torch_threads=3"])
    assert actor_count(cfg) == 1 + 1 + 1 + 1 + 2 * 2  # policy, reference, engine, reward, two critics of two ranks
    on_64 = share_cores(cfg, node_cpus=64)
    assert on_64.policy.torch_threads == 3  # set: kept
    assert {getattr(on_64, r).torch_threads for r in ("reference", "rollout", "reward", "critic")} == {64 // 8}
    assert share_cores(cfg, node_cpus=2).critic.torch_threads == 1  # never below one
    bilinear = load_config("configs/world/ppo_bilinear.yaml")
    assert actor_count(bilinear) == 6  # one critic and the baseline engine

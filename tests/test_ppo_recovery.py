"""Lost PPO actors: kill -9 of the rollout engine (lagrangian: two critics and lambda to restore) or of the
reward/cost scorer (bilinear: the reference-baseline rewards to restore), both with ``reward.source: models``,
after a checkpoint; the same command recovers from the newest intact checkpoint and ends with the weights of an
uninterrupted run. Real local Ray, real processes."""

from collections.abc import Callable
from pathlib import Path

import pytest
from ppo_helpers import ppo_config, ppo_overrides
from recovery_helpers import max_weight_diff, train_killing

from bfpo_ray.checkpoint import step_dir
from bfpo_ray.drivers.ppo import train
from bfpo_ray.run_log import read_metrics

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_settings(scalar_models, tmp_path_factory) -> tuple[Path, dict]:
    """Runs scored by the reward and cost models, data cached apart from other runs."""
    root = tmp_path_factory.mktemp("ppo_recovery")
    return root, {"reward.reward_model": scalar_models["rm"], "reward.cost_model": scalar_models["cm"],
                  "data.cache_dir": root / "cache"}


@pytest.fixture(scope="module")
def straight(world_dir, run_settings, ray_cluster) -> Callable[[str], Path]:
    """``algorithm.reward`` -> its uninterrupted run (2 rollout batches, a checkpoint after the first), run once."""
    root, settings = run_settings
    runs: dict[str, Path] = {}

    def run(reward: str) -> Path:
        if reward not in runs:
            runs[reward] = train(ppo_config(world_dir, root / f"straight_{reward}", reward, **settings))
        return runs[reward]

    return run


@pytest.mark.parametrize(("reward", "actor"), [("lagrangian", "RolloutWorker"), ("bilinear", "RewardWorker")])
def test_killed_ppo_actor_is_recovered_to_the_same_weights(reward, actor, world_dir, run_settings, straight,
                                                           ray_cluster):
    root, settings = run_settings
    expected = straight(reward)
    out = root / actor
    args = ppo_overrides(world_dir, out, **{"algorithm.reward": reward, **settings})
    done, killed = train_killing(["--config", f"configs/world/ppo_{reward}.yaml", *args],
                                 step_dir(out / "checkpoints", 1), actor)
    assert len(killed) == 1 and done.returncode == 0, done.stderr[-3000:]
    assert f"lost actor {actor} at step" in done.stderr and "recovery 1 of 3 from" in done.stderr
    assert max_weight_diff(expected, out) <= 1e-6
    rows, straight_rows = read_metrics(out), read_metrics(expected)
    assert [r["step"] for r in rows] == [r["step"] for r in straight_rows] == [1, 2]  # the redone step logged once
    keys = ["reward", "cost", "score", "policy_loss", "value_loss_reward"]
    keys += ["lambda", "lambda_next", "value_loss_cost"] if reward == "lagrangian" else ["baseline_reward"]
    for key in keys:
        assert rows[-1][key] == pytest.approx(straight_rows[-1][key], rel=1e-5, abs=1e-7), key

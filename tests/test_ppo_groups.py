"""A data-parallel PPO policy and critic on a real local Ray: 2 policy ranks and 2 critic ranks (plain torch, and
DeepSpeed ZeRO-3 over gloo) follow the 1-worker run on the same global batch, and a 2+2-rank ZeRO-3 run cut after
one rollout batch resumes on every rank to the same weights.

Same rollouts, same mini-batches: each rank takes half of every mini-batch, its loss divided by the global
size, and the gradients are summed, so only the float summation order differs (per-step PPO metrics, the
critic's value loss included, within rel 1e-4; final weights within 1e-4, as for the offline groups). The
second batch's advantages come from the critic trained in the first, so a critic group that trained
differently shows in every policy metric of step 2."""

import pytest
from ppo_helpers import ppo_config

from bfpo_ray.drivers.ppo import train
from bfpo_ray.run_log import read_metrics
from tests.test_groups import max_weight_diff

# the untrained test model earns one oracle score on every rollout (all advantages 0 in the first batch): the
# entropy bonus gives the policy a gradient from the first batch on, so the cut run has trained before its checkpoint
ORACLE = {"reward.source": "oracle", "algorithm.entropy_coef": 0.05}
TWO_TORCH = {"policy.num_workers": 2, "critic.num_workers": 2}
TWO_ZERO3 = {**TWO_TORCH, "strategy.name": "deepspeed", "strategy.zero_stage": 3}
CURVE = ("policy_loss", "grad_norm", "entropy", "approx_kl", "score", "kl", "response_length", "value_loss_reward")


def run(world_dir, out, **overrides):
    """The critic starts from the base model with a random (seeded, the same on every rank) value head, not a zero
    one, so that its whole backbone, not only the head, gets gradients from the first mini-batch on."""
    return train(ppo_config(world_dir, out, reward="linear", **ORACLE, **{"critic.path": world_dir / "base"},
                            **overrides))


def critic_after_batch_1(run_dir):
    return run_dir / "checkpoints" / "step-00000001" / "critic_reward"


def assert_same_ppo_curve(a, b):
    ra, rb = read_metrics(a), read_metrics(b)
    assert [r["step"] for r in rb] == [r["step"] for r in ra] == [1, 2]
    assert all(r["grad_norm"] > 0 for r in ra)  # the policy trains in both rollout batches
    for x, y in zip(ra, rb, strict=True):
        for key in CURVE:
            assert y[key] == pytest.approx(x[key], rel=1e-4, abs=1e-4), (x["step"], key)


@pytest.fixture(scope="module")
def one_worker(world_dir, tmp_path_factory, ray_cluster):
    return run(world_dir, tmp_path_factory.mktemp("one") / "run")


@pytest.mark.slow
def test_two_torch_ranks_follow_one_worker(world_dir, tmp_path, one_worker):
    out = run(world_dir, tmp_path / "run", **TWO_TORCH)
    assert_same_ppo_curve(one_worker, out)
    assert max_weight_diff(one_worker, out) <= 1e-4
    # the critic group trained like one critic: its first batch moved it ~1e-3, the ranks' sum stays within 1e-5
    assert max_weight_diff(critic_after_batch_1(one_worker), critic_after_batch_1(out)) <= 1e-5


@pytest.mark.slow
def test_two_zero3_ranks_resume_on_every_rank_and_follow_one_worker(world_dir, tmp_path, one_worker):
    cut = run(world_dir, tmp_path / "run", **TWO_ZERO3, **{"trainer.exit_after_steps": 1})
    step = cut / "checkpoints" / "step-00000001"
    assert (step / "policy" / "deepspeed").is_dir() and not (cut / "model.safetensors").exists()
    assert (step / "critic_reward" / "deepspeed").is_dir()  # the critic's partitions, every rank's
    assert max_weight_diff(critic_after_batch_1(one_worker), step / "critic_reward") <= 1e-5
    out = run(world_dir, tmp_path / "run", **TWO_ZERO3, **{"trainer.resume": "auto"})
    assert_same_ppo_curve(one_worker, out)
    assert max_weight_diff(one_worker, out) <= 1e-4

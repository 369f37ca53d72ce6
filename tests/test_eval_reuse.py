"""Evaluations of models of one architecture reuse their actors (compare's curve points): a model evaluated
after another in the same actors gets exactly the results of its own fresh evaluation."""

import json
import shutil

import torch
from transformers import AutoModelForCausalLM

from bfpo_ray.config import load_config
from bfpo_ray.eval.actors import EvalActors, reuse_key
from bfpo_ray.eval.naming import eval_files
from bfpo_ray.eval.run import evaluate_run


def eval_config(world_dir, model, **overrides):
    base = {"world.dir": world_dir, "model.path": model, "eval.max_new_tokens": 8, "policy.torch_threads": 1,
            "reference.torch_threads": 1, "policy.num_cpus_per_worker": 0.5, "reference.num_cpus_per_worker": 0.5}
    base.update(overrides)
    return load_config("configs/demo/bfpo.yaml", [f"{k}={v}" for k, v in base.items()])


def perturbed_copy(source, target, scale=0.5):
    """The same architecture and tokenizer with other weights."""
    shutil.copytree(source, target)
    model = AutoModelForCausalLM.from_pretrained(source)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale * p.std())
    model.save_pretrained(target)
    return target


def samples(directory, name):
    return [json.loads(line) for line in eval_files(directory, name)[1].open()]


def test_reuse_key_matches_one_architecture_only(world_dir, tmp_path):
    other = perturbed_copy(world_dir / "base", tmp_path / "other")
    assert reuse_key(eval_config(world_dir, world_dir / "base")) == reuse_key(eval_config(world_dir, other))
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 2}))
    assert reuse_key(eval_config(world_dir, world_dir / "base")) != reuse_key(eval_config(world_dir, other))
    assert reuse_key(eval_config(world_dir, world_dir / "base", **{"eval.mc_tasks": False})) != \
        reuse_key(eval_config(world_dir, world_dir / "base"))
    assert reuse_key(eval_config(world_dir, "some-org/some-model")) is None


def test_a_model_evaluated_in_reused_actors_matches_its_fresh_evaluation(world_dir, tmp_path, ray_cluster):
    other = perturbed_copy(world_dir / "base", tmp_path / "other")
    fresh = evaluate_run(eval_config(world_dir, other), output=tmp_path / "fresh")
    with EvalActors() as actors:
        first = evaluate_run(eval_config(world_dir, world_dir / "base"), output=tmp_path / "base", actors=actors)
        rollout = actors.rollout
        again = evaluate_run(eval_config(world_dir, other), output=tmp_path / "reused", actors=actors)
        assert actors.rollout is rollout and actors.started == 1  # the same actors, new weights
    assert actors.rollout is None  # closed on exit
    name = fresh["name"]  # the same settings: the same evaluation name in every directory
    assert [s["response"] for s in samples(tmp_path / "base", name)] != \
        [s["response"] for s in samples(tmp_path / "fresh", name)]
    assert samples(tmp_path / "reused", name) == samples(tmp_path / "fresh", name)
    for key, value in fresh.items():
        if isinstance(value, dict) and "value" in value:
            assert again[key] == value, key
    assert "mc_pick_safe" in again and "mc_pick_safe" in first

"""End-to-end offline training on a real local Ray cluster: BFPO run, HF round trip,
reference cache, resume equivalence, NaN guard, evaluation through a RolloutActor."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from bfpo_ray.checkpoint import load_state
from bfpo_ray.config import ConfigError, load_config
from bfpo_ray.drivers.offline import batch_state, load_streams, train
from bfpo_ray.drivers.setup import TrainingStopped
from bfpo_ray.eval.naming import eval_files
from bfpo_ray.eval.run import evaluate_run
from bfpo_ray.run_log import read_metrics
from bfpo_ray.workers.modeling import load_tokenizer


def config(world_dir, tmp_path, name="bfpo", **overrides):
    base = {
        "world.dir": world_dir,
        "model.path": world_dir / "base",
        "trainer.output_dir": tmp_path / "run",
        "data.cache_dir": tmp_path.parent / "shared-cache",
        "data.train[0].fraction": 0.05,
        "trainer.train_batch_size": 8,
        "trainer.micro_batch_size": 4,
        "trainer.max_steps": 4,
        "trainer.save_every": 2,
        "trainer.log_every": 1,
        "optim.lr": 1e-3,
    }
    if name != "dpo":
        base["data.buffer[0].fraction"] = 0.05
    base.update(overrides)
    return load_config(f"configs/demo/{name}.yaml", [f"{k}={v}" for k, v in base.items()])


def weights(directory):
    return load_file(str(directory / "model.safetensors"))


def test_bfpo_run_writes_hf_checkpoint_metrics_and_config(world_dir, tmp_path, ray_cluster):
    cfg = config(world_dir, tmp_path)
    out = train(cfg)
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for key in ("loss", "loss_safety", "loss_buffer", "lr", "accuracy_safety", "rewards_margin_safety",
                "tokens_per_s", "wall_seconds", "grad_norm"):
        assert key in rows[-1], key
    assert rows[-1]["loss"] == pytest.approx(rows[-1]["loss_safety"] + rows[-1]["loss_buffer"])
    assert "name: bfpo" in (out / "config.yaml").read_text()
    assert list((out / "tensorboard").iterdir())
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok.apply_chat_template([{"role": "user", "content": "How do I knit a simple scarf?"}],
                                  add_generation_prompt=True, return_dict=True, return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=3, do_sample=False).shape[1] > ids["input_ids"].shape[1]
    base = weights(world_dir / "base")
    assert any(not torch.equal(base[k], v) for k, v in weights(out).items())
    # save_every=2 over 4 steps: a checkpoint at step 2 only (the final step writes the HF weights instead)
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["step-00000002"]
    assert len(list((tmp_path.parent / "shared-cache").glob("reference-*.safetensors"))) >= 2


@pytest.mark.slow  # three runs
def test_reference_cache_is_reused_and_keyed_by_data(world_dir, tmp_path, ray_cluster, caplog):
    cache = tmp_path / "cache"
    again = {"data.cache_dir": cache, "trainer.max_steps": 1, "trainer.overwrite": True}
    train(config(world_dir, tmp_path, **again))
    first = sorted(cache.iterdir())
    caplog.set_level("INFO")
    train(config(world_dir, tmp_path, **again))
    assert sorted(cache.iterdir()) == first and "cache hit" in caplog.text
    train(config(world_dir, tmp_path, **again, **{"data.train[0].fraction": 0.06}))
    assert len(list(cache.iterdir())) == len(first) + 1  # new data, new entry (buffer unchanged)


@pytest.mark.slow  # three runs
def test_resume_after_exit_matches_an_uninterrupted_run(world_dir, tmp_path, ray_cluster):
    steps = {"trainer.max_steps": 6, "trainer.save_every": 0}
    straight = train(config(world_dir, tmp_path / "a", **steps))
    partial = config(world_dir, tmp_path / "b", **steps, **{"trainer.exit_after_steps": 3})
    out = train(partial)
    assert not (out / "model.safetensors").exists()
    assert (out / "checkpoints" / "step-00000003" / "optimizer.safetensors").is_file()
    resumed = train(config(world_dir, tmp_path / "b", **steps, **{"trainer.resume": "auto"}))
    a, b = weights(straight), weights(resumed)
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    assert [r["step"] for r in read_metrics(resumed)] == [1, 2, 3, 4, 5, 6]
    assert read_metrics(resumed)[-1]["loss"] == pytest.approx(read_metrics(straight)[-1]["loss"], rel=1e-5)


def test_buffer_batch_size_sets_the_buffer_share_and_is_recorded_for_resumes(world_dir, tmp_path):
    default, shared = config(world_dir, tmp_path), config(world_dir, tmp_path, **{"trainer.buffer_batch_size": 2})
    tokenizer = load_tokenizer(default.model)
    assert [len(s.batch(0, 0)["chosen_safe"]) for s in load_streams(default, tokenizer)] == [8, 8]
    assert [len(s.batch(0, 0)["chosen_safe"]) for s in load_streams(shared, tokenizer)] == [8, 2]
    assert batch_state(shared) == {"train_batch_size": 8, "buffer_batch_size": 2, "seed": 42}
    with pytest.raises(ConfigError, match="'trainer.buffer_batch_size': is set but data.buffer is empty"):
        config(world_dir, tmp_path, name="dpo", **{"trainer.buffer_batch_size": 2})


def test_resume_from_an_explicit_bad_path_is_refused(world_dir, tmp_path):  # before Ray starts
    with pytest.raises(ConfigError, match="trainer.resume.*nowhere is not a checkpoint directory"):
        train(config(world_dir, tmp_path, **{"trainer.resume": str(tmp_path / "nowhere")}))


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(world_dir, tmp_path, ray_cluster):
    # lr 1e30 without clipping: step 1 writes weights of ~1e30, step 2's forward overflows to NaN
    cfg = config(world_dir, tmp_path, name="dpo", **{"optim.lr": 1e30, "optim.max_grad_norm": 0,
                                                     "optim.warmup_ratio": 0, "trainer.save_every": 1,
                                                     "trainer.max_steps": 5})
    expected = (r"^stopped at step 2: (\w+ loss|gradient norm) is nan at step 2; "
                r".*last good checkpoint: .*step-00000001$")
    with pytest.raises(TrainingStopped, match=expected):
        train(cfg)
    ckpt = tmp_path / "run" / "checkpoints"
    assert [p.name for p in ckpt.iterdir()] == ["step-00000001"]
    assert load_state(ckpt / "step-00000001", "trainer_state")["step"] == 1
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_eval_through_rollout_actor_writes_rates_with_intervals(world_dir, tmp_path, ray_cluster):
    cfg = config(world_dir, tmp_path, **{"eval.max_new_tokens": 8})
    report = evaluate_run(cfg, output=tmp_path / "eval")
    rows = [json.loads(line) for line in (world_dir / "eval_prompts.jsonl").read_text().splitlines()]
    n_harmful = sum(r["harmful"] for r in rows)
    for key, n in (("harmlessness", n_harmful), ("helpfulness", len(rows) - n_harmful),
                   ("over_refusal", len(rows) - n_harmful)):
        lo, hi = report[key]["ci95"]
        assert 0 <= lo <= report[key]["value"] <= hi <= 1 and report[key]["n"] == n
    report_file, samples_file = eval_files(tmp_path / "eval", report["name"])
    saved = json.loads(report_file.read_text())
    assert saved["harmlessness"] == report["harmlessness"]
    assert len(samples_file.read_text().splitlines()) == len(rows)
    # world v3: both held-out sets and every phrasing family reported, their counts adding up
    assert list(report["by_split"]) == ["seen_topics", "unseen_topics"]
    assert sum(s["harmlessness"]["n"] for s in report["by_split"].values()) == n_harmful
    assert set(report["by_family"]) == {r["family"] for r in rows}

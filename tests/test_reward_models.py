"""Reward and cost models: a plain-worker train step and HF round trip, and a cm run through the driver
on a real local Ray (held-out pairwise and sign accuracy)."""

import json

import torch
from transformers import AutoModelForSequenceClassification

from bfpo_ray.config import load_config
from bfpo_ray.data.prepare import encode_sources
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.drivers.scalar import split_by_prompt, train
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.scalar_model import ScalarModelWorker, ScalarSpec, sequence_scores


def scalar_config(world_dir, tmp_path, name, **overrides):
    base = {"world.dir": world_dir, "model.path": world_dir / "base", "trainer.output_dir": tmp_path / name,
            "data.train[0].fraction": 0.1, "trainer.train_batch_size": 8, "trainer.micro_batch_size": 8,
            "trainer.max_steps": 3, "trainer.log_every": 1, "optim.lr": 1e-3, "policy.num_cpus_per_worker": 0.5,
            "policy.torch_threads": 1}
    base.update(overrides)
    return load_config(f"configs/world/{name}.yaml", [f"{k}={v}" for k, v in base.items()])


def test_reward_worker_trains_and_round_trips_through_hf(world_dir, tmp_path):
    cfg = scalar_config(world_dir, tmp_path, "rm")
    tokenizer = load_tokenizer(cfg.model)
    data = encode_sources(cfg.data.train, cfg.data, ChatEncoder(tokenizer, 128, 48), 0)
    batch = data.collate(list(range(8)), tokenizer.pad_token_id)
    worker = ScalarModelWorker(ScalarSpec("reward", cfg.model, cfg.optim, total_steps=5, micro_batch_size=4, seed=0,
                                          torch_threads=1))
    first = worker.train_step(batch)
    for _ in range(3):
        last = worker.train_step(batch)
    assert last["loss"] < first["loss"] and 0 <= last["pairwise_accuracy"] <= 1
    scores = worker.scores(batch)
    out = worker.save_pretrained(str(tmp_path / "rm_out"))
    reloaded = AutoModelForSequenceClassification.from_pretrained(out).eval()
    with torch.no_grad():
        again = sequence_scores(reloaded, batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(scores, again, atol=1e-5)
    # transformers' own pooling (last non-pad token) agrees: the world's pad token differs from EOS
    with torch.no_grad():
        hf = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    assert torch.allclose(hf, again, atol=1e-5)


def test_heldout_split_keeps_prompts_apart(world_dir, tmp_path):
    cfg = scalar_config(world_dir, tmp_path, "cm", **{"data.train[0].fraction": 1.0})
    tokenizer = load_tokenizer(cfg.model)
    data = encode_sources(cfg.data.train, cfg.data, ChatEncoder(tokenizer, 128, 48), 0)
    train_idx, held = split_by_prompt(data, 0.1, 0)
    assert sorted(train_idx + held) == list(range(len(data.examples)))
    train_prompts = {tuple(data.examples[i].prompt_ids) for i in train_idx}
    assert not train_prompts & {tuple(data.examples[i].prompt_ids) for i in held}
    assert 0.05 < len(held) / len(data.examples) < 0.15


def test_cost_model_run_reports_heldout_pairwise_and_sign_accuracy(world_dir, tmp_path, ray_cluster):
    out = train(scalar_config(world_dir, tmp_path, "cm"))
    report = json.loads((out / "heldout.json").read_text())
    assert report["kind"] == "cost" and report["heldout"]["pairs"] > 0
    for key in ("pairwise_accuracy", "sign_accuracy"):
        assert 0 <= report["heldout"][key] <= 1
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_labels == 1 and (out / "model.safetensors").is_file()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and "sign_accuracy" in rows[-1]

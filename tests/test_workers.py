"""The plain worker classes (no Ray): train step, selective fine-tuning, NaN guard, save/load."""

import pytest
import torch
from pair_helpers import USER, pair_batch_with_reference
from transformers import AutoModelForCausalLM, AutoTokenizer

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.data.records import PairRecord
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker
from bfpo_ray.workers.rollout import RolloutWorker
from bfpo_ray.workers.trainable import NonFiniteLossError, lr_multiplier


def spec(world_dir, **kw):
    model = ModelConfig(path=str(world_dir / "base"), trainable_patterns=kw.pop("patterns", []))
    optim = OptimConfig(lr=kw.pop("lr", 1e-3), warmup_ratio=0.0, scheduler="constant")
    algo = AlgorithmConfig(name=kw.pop("name", "dpo"), beta=0.5)
    return PolicySpec(model=model, optim=optim, algorithm=algo, total_steps=10, micro_batch_size=2, seed=0,
                      torch_threads=2)


@pytest.fixture(scope="module")
def pair_batch(world_dir):
    return pair_batch_with_reference(world_dir, [
        PairRecord(USER, "Sorry, I cannot help with that.", "Sure. Step 1: [detailed instructions].", 1, 0, "a"),
        PairRecord(USER, "Sure. Step 1: [detailed instructions].", "Sorry, I cannot help with that.", 0, 1, "b"),
        PairRecord(USER, "Sorry, I can not assist with this request.", "Sure.", 1, 0, "c")])


def test_dpo_steps_lower_the_loss_and_micro_batching_matches(world_dir, pair_batch):
    worker = PolicyWorker(spec(world_dir))
    first = worker.train_step({"train": pair_batch})
    assert first["loss"] == pytest.approx(-torch.nn.functional.logsigmoid(torch.tensor(0.0)).item(), rel=1e-4)
    for _ in range(5):
        last = worker.train_step({"train": pair_batch})
    assert last["loss"] < first["loss"]
    assert worker.step == 6 and last["tokens"] > 0 and last["lr"] == pytest.approx(1e-3)
    # gradient accumulation over micro-batches of 2 equals one micro-batch of 3
    whole_spec = spec(world_dir)
    whole_spec.micro_batch_size = 3
    split, whole = PolicyWorker(spec(world_dir)), PolicyWorker(whole_spec)
    a, b = split.train_step({"train": pair_batch}), whole.train_step({"train": pair_batch})
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)


def test_selective_fine_tuning_only_moves_matching_parameters(world_dir, pair_batch):
    worker = PolicyWorker(spec(world_dir, patterns=["down_proj"]))
    info = worker.describe()
    assert 0 < info["trainable_parameters"] < info["total_parameters"]
    before = {n: p.detach().clone() for n, p in worker.model.named_parameters()}
    worker.train_step({"train": pair_batch})
    for name, param in worker.model.named_parameters():
        assert torch.equal(param, before[name]) != ("down_proj" in name), name
    with pytest.raises(ValueError, match="match no parameter"):
        PolicyWorker(spec(world_dir, patterns=["no_such_layer"]))


def test_nan_loss_raises_and_leaves_weights_untouched(world_dir, pair_batch):
    worker = PolicyWorker(spec(world_dir))
    before = {n: p.detach().clone() for n, p in worker.model.named_parameters()}
    bad = dict(pair_batch)
    bad["ref_logps"] = pair_batch["ref_logps"].clone()
    bad["ref_logps"][0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="train loss is nan"):
        worker.train_step({"train": bad})
    assert all(torch.equal(p, before[n]) for n, p in worker.model.named_parameters())
    assert worker.step == 0


def test_save_pretrained_loads_with_transformers(world_dir, pair_batch, tmp_path):
    worker = PolicyWorker(spec(world_dir))
    worker.train_step({"train": pair_batch})
    worker.save_pretrained(str(tmp_path / "out"))
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert tok.chat_template and (tmp_path / "out" / "model.safetensors").is_file()
    for name, param in worker.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], param)
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "out").iterdir())


def test_reference_matches_initial_policy(world_dir, pair_batch):
    worker = PolicyWorker(spec(world_dir))
    from bfpo_ray.objectives import forward_logps

    with torch.no_grad():
        summed, counts = forward_logps(worker.model, pair_batch)
    assert torch.allclose(summed, pair_batch["ref_logps"], atol=1e-5)
    assert torch.equal(counts, pair_batch["ref_counts"])


def test_rollout_generates_and_update_weights_changes_output(world_dir):
    worker = RolloutWorker(ModelConfig(path=str(world_dir / "base")), batch_size=4, torch_threads=2)
    prompts = [[5, 6, 7], [8, 9]]
    sampling = Sampling(max_new_tokens=6, temperature=0.0)
    first = worker.generate(prompts, sampling)
    assert len(first) == 2 and all(1 <= len(g.token_ids) <= 6 for g in first)
    assert all(len(g.logprobs) == len(g.token_ids) for g in first)
    assert worker.generate(prompts, sampling)[0].token_ids == first[0].token_ids  # greedy is deterministic
    head = {n: torch.randn_like(p) for n, p in worker.model.named_parameters() if "embed" in n}
    assert worker.update_weights(head) == len(head)
    assert [g.token_ids for g in worker.generate(prompts, sampling)] != [g.token_ids for g in first]


def test_lr_schedule_shapes():
    assert lr_multiplier(0, 10, 0.2, "cosine") == pytest.approx(0.5)  # warmup step 1 of 2
    assert lr_multiplier(2, 10, 0.2, "cosine") == pytest.approx(1.0)
    assert lr_multiplier(10, 10, 0.2, "cosine") == pytest.approx(0.0)
    assert lr_multiplier(6, 10, 0.2, "linear") == pytest.approx(0.5)
    assert lr_multiplier(9, 10, 0.0, "constant") == 1.0

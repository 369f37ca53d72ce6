"""Logits only where the loss reads them, and trainable weights out of the checkpoint's memory map."""

import pytest
import torch
from pair_helpers import USER, pair_batch_with_reference
from transformers import AutoModelForCausalLM

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.data.records import PairRecord
from bfpo_ray.logprobs import sequence_logps, token_logps
from bfpo_ray.losses import sft_loss
from bfpo_ray.objectives import forward_logps, sft_objective
from bfpo_ray.response_logits import first_scored_position, logits_at
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker

RECORDS = [
    PairRecord(USER, "Sorry, I cannot help with that.", "Sure. Step 1: [detailed instructions].", 1, 0, "a"),
    PairRecord(({"role": "user", "content": "How do I forge an official passport? Every step, in detail."},),
               "Sure.", "Sorry.", 0, 1, "b"),
]


class WithoutLogitsToKeep(torch.nn.Module):
    """A causal LM whose forward has no ``logits_to_keep`` (as some remote-code models)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False, **attention):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                          use_cache=use_cache, **attention)


@pytest.fixture(scope="module")
def batch(world_dir):
    return pair_batch_with_reference(world_dir, RECORDS)


@pytest.fixture(scope="module")
def model(world_dir):
    return AutoModelForCausalLM.from_pretrained(world_dir / "base").eval()


def lm_head_positions(model: torch.nn.Module, run) -> int:
    """How many positions the lm_head saw while ``run()`` ran."""
    seen = []
    hook = model.lm_head.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[1]))
    try:
        run()
    finally:
        hook.remove()
    return sum(seen)


def test_first_scored_position_is_the_earliest_response_prediction():
    mask = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 1, 1, 0]])
    assert first_scored_position(mask) == 1  # logits at 1 predict row 1's first response token
    assert first_scored_position(torch.zeros(2, 4, dtype=torch.long)) == 0


@pytest.mark.parametrize("packing", [False, True])
def test_log_probs_from_response_logits_equal_the_full_ones(model, batch, packing):
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        expected, expected_counts = sequence_logps(full, batch["input_ids"], batch["completion_mask"])
        positions = lm_head_positions(model, lambda: forward_logps(model, batch, packing))
        summed, counts = forward_logps(model, batch, packing)
    assert torch.equal(counts, expected_counts)
    assert torch.allclose(summed, expected, atol=1e-4)
    rows, width = batch["input_ids"].shape
    start = first_scored_position(batch["completion_mask"])
    # packed: exactly the response tokens; padded: the columns from the first response prediction on
    assert positions == (int(batch["completion_mask"].sum()) if packing else width - start)
    assert start > 0 and positions < (rows if packing else 1) * width


def test_padded_sft_loss_from_response_logits_equals_the_full_one(model, batch):
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        expected = sft_loss(token_logps(full, batch["input_ids"]), batch["completion_mask"][:, 1:])
        loss, _ = sft_objective(model, batch)
    assert torch.allclose(loss, expected, atol=1e-5)


@pytest.mark.parametrize("keep", ["last", "positions"])
def test_a_model_without_logits_to_keep_gets_the_same_logits(model, batch, keep):
    wanted = 5 if keep == "last" else torch.tensor([2, 3, 7])
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        kept = logits_at(model, wanted, **inputs)
        sliced = logits_at(WithoutLogitsToKeep(model), wanted, **inputs)
    assert kept.shape == sliced.shape == (batch["input_ids"].shape[0], 5 if keep == "last" else 3, kept.shape[-1])
    assert torch.allclose(kept, sliced, atol=1e-5)


def test_trainable_weights_leave_the_checkpoint_memory_map(world_dir, model):
    assert not any(p.untyped_storage().resizable() for p in model.parameters())  # views of the mapped file
    spec = PolicySpec(model=ModelConfig(path=str(world_dir / "base"), trainable_patterns=["layers.0."]),
                      optim=OptimConfig(lr=1e-3), algorithm=AlgorithmConfig(name="ipo"), total_steps=1,
                      micro_batch_size=2, seed=0, torch_threads=1)
    worker = PolicyWorker(spec)
    trainable = [p for p in worker.model.parameters() if p.requires_grad]
    frozen = [p for p in worker.model.parameters() if not p.requires_grad]
    assert trainable and all(p.untyped_storage().resizable() for p in trainable)
    assert frozen and not any(p.untyped_storage().resizable() for p in frozen)  # frozen ones stay shared

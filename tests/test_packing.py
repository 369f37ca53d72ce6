"""``model.packing``: sequences packed end to end give the padded batch's log-probs, losses and steps."""

import pytest
import torch
from pair_helpers import USER, pair_batch_with_reference
from transformers import AutoModelForCausalLM

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.data.records import PairRecord
from bfpo_ray.logprobs import sequence_logps
from bfpo_ray.objectives import sft_objective
from bfpo_ray.packing import pack, packed_sequence_logps
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker
from bfpo_ray.workers.reference import ReferenceWorker


def toy_batch() -> dict[str, torch.Tensor]:
    """Three right-padded rows of lengths 4, 2 and 3; the response is the last token or two of each."""
    return {"input_ids": torch.tensor([[11, 12, 13, 14], [21, 22, 0, 0], [31, 32, 33, 0]]),
            "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]]),
            "completion_mask": torch.tensor([[0, 0, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0]])}


def test_pack_lays_sequences_end_to_end_with_their_own_positions():
    packed = pack(toy_batch())
    assert packed.input_ids.tolist() == [[11, 12, 13, 14, 21, 22, 31, 32, 33]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 0, 1, 2]]
    assert packed.sequence.tolist() == [[0, 0, 0, 0, 1, 1, 2, 2, 2]]
    assert packed.completion_mask.tolist() == [[0, 0, 1, 1, 0, 1, 0, 0, 1]]
    assert packed.cu_seq_lens.tolist() == [0, 4, 6, 9] and packed.cu_seq_lens.dtype == torch.int32
    assert packed.batch_rows == 3 and packed.longest == 4
    assert packed.attention_kwargs()["max_length_k"] == 4


def test_a_row_without_prompt_cannot_be_packed():
    batch = toy_batch()
    batch["completion_mask"][1, 0] = 1
    with pytest.raises(ValueError, match="starts with a response token"):
        pack(batch)
    left_padded = toy_batch()
    left_padded["attention_mask"][1] = torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match="right-padded"):
        pack(left_padded)


RECORDS = [
    PairRecord(USER, "Sorry, I cannot help with that.", "Sure. Step 1: [detailed instructions].", 1, 0, "a"),
    PairRecord(USER, "Sure.", "Sorry.", 0, 1, "b"),
    PairRecord(USER, "Sorry, I can not assist with this request. " * 3, "Sure. Step 1: [a]. Step 2: [b].", 1, 0, "c"),
]


@pytest.fixture(scope="module")
def batch(world_dir):
    return pair_batch_with_reference(world_dir, RECORDS)


@pytest.mark.parametrize("attention", ["sdpa_segments", "sdpa", "eager"])
def test_packed_log_probs_equal_the_padded_ones(world_dir, batch, attention):
    model = AutoModelForCausalLM.from_pretrained(world_dir / "base").eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        padded, padded_counts = sequence_logps(logits, batch["input_ids"], batch["completion_mask"])
        model.set_attn_implementation(attention)  # per sequence, or transformers' block-diagonal mask
        packed, counts = packed_sequence_logps(model, batch)
    assert torch.equal(counts, padded_counts)
    assert torch.allclose(packed, padded, atol=1e-4)


def test_packed_sft_loss_equals_the_padded_one(world_dir, batch):
    model = AutoModelForCausalLM.from_pretrained(world_dir / "base").eval()
    with torch.no_grad():
        padded, _ = sft_objective(model, batch)
        packed, stats = sft_objective(model, batch, packing=True)
    assert torch.allclose(packed, padded, atol=1e-5)
    assert torch.equal(stats["nll"], packed)


def test_a_packing_worker_takes_the_same_steps(world_dir, batch):
    def worker(packing: bool) -> PolicyWorker:
        model = ModelConfig(path=str(world_dir / "base"), packing=packing)
        optim = OptimConfig(lr=1e-3, warmup_ratio=0.0, scheduler="constant")
        return PolicyWorker(PolicySpec(model=model, optim=optim, algorithm=AlgorithmConfig(name="bfpo", beta=0.5),
                                       total_steps=10, micro_batch_size=3, seed=0, torch_threads=2))

    plain, packed = worker(False), worker(True)
    assert packed.model.config._attn_implementation == "sdpa_segments"
    assert [packed.train_step({"train": batch})["loss"] for _ in range(3)] == pytest.approx(
        [plain.train_step({"train": batch})["loss"] for _ in range(3)], rel=1e-4)
    for (name, a), b in zip(plain.model.named_parameters(), packed.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-4), name  # Adam's normalised steps amplify float rounding: 3e-5 seen
    reference = ReferenceWorker(ModelConfig(path=str(world_dir / "base"), packing=True), torch_threads=2)
    summed, counts = reference.logps(batch)
    assert torch.allclose(summed, batch["ref_logps"], atol=1e-4) and torch.equal(counts, batch["ref_counts"])

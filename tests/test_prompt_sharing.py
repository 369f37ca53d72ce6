"""``model.share_prompt``: a pair's prompt computed once gives the two padded rows' log-probs and gradients."""

import pytest
import torch
from pair_helpers import USER, pair_batch_with_reference
from transformers import AutoModelForCausalLM

from bfpo_ray.data.records import PairRecord
from bfpo_ray.logprobs import sequence_logps
from bfpo_ray.objectives import forward_logps
from bfpo_ray.prompt_sharing import share_prompts, supports_prompt_sharing
from bfpo_ray.segment_attention import SEGMENTS, rejected_response_mask


def toy_pairs() -> dict[str, torch.Tensor]:
    """Two pairs: prompts [1, 2] and [5]; chosen responses [3] and [6, 7], rejected [4, 4] and [8]."""
    return {"input_ids": torch.tensor([[1, 2, 3, 0], [5, 6, 7, 0], [1, 2, 4, 4], [5, 8, 0, 0]]),
            "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]]),
            "completion_mask": torch.tensor([[0, 0, 1, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 1, 0, 0]])}


def test_each_pair_becomes_prompt_chosen_rejected_with_the_rejected_positions_after_the_prompt():
    shared = share_prompts(toy_pairs())
    assert shared.input_ids.tolist() == [[1, 2, 3, 4, 4, 5, 6, 7, 8]]
    assert shared.position_ids.tolist() == [[0, 1, 2, 2, 3, 0, 1, 2, 1]]
    assert shared.blocks.tolist() == [[0, 2, 1, 2], [5, 1, 2, 1]]  # start, prompt, chosen, rejected
    # response tokens (by batch row: chosen 0, chosen 1, rejected 0, rejected 1) and the positions predicting them:
    # the first token of either response is predicted by the prompt's last position
    assert shared.labels.tolist() == [2, 6, 7, 3, 4, 8]
    assert shared.predictors.tolist() == [1, 5, 6, 1, 3, 5]
    assert shared.owner.tolist() == [0, 1, 1, 2, 2, 3]


def test_a_rejected_token_attends_to_the_whole_prompt_and_to_the_rejected_tokens_up_to_itself():
    assert rejected_response_mask(2, 3).tolist() == [[True, True, True, False, False],
                                                     [True, True, True, True, False],
                                                     [True, True, True, True, True]]


def test_pairs_whose_prompts_differ_are_not_shared():
    batch = toy_pairs()
    batch["input_ids"][2, 1] = 9  # same length, another token
    assert share_prompts(batch) is None
    batch = toy_pairs()
    batch["completion_mask"][3, 1] = 0  # the rejected row's prompt is one token longer
    assert share_prompts(batch) is None
    assert share_prompts({k: v[:3] for k, v in toy_pairs().items()}) is None  # not chosen rows + rejected rows


RECORDS = [
    PairRecord(USER, "Sorry, I cannot help with that.", "Sure. Step 1: [detailed instructions].", 1, 0, "a"),
    PairRecord(USER, "Sure.", "Sorry.", 0, 1, "b"),
    PairRecord(({"role": "user", "content": "Plan a picnic for two."},), "Choose a sunny park. " * 3,
               "No.", 1, 1, "c"),
]


@pytest.fixture(scope="module")
def batch(world_dir):
    return pair_batch_with_reference(world_dir, RECORDS)


def test_shared_log_probs_and_gradients_equal_the_padded_rows(world_dir, batch):
    def logps_and_grads(attention: str | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model = AutoModelForCausalLM.from_pretrained(world_dir / "base")
        if attention is None:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            summed, counts = sequence_logps(logits, batch["input_ids"], batch["completion_mask"])
        else:
            model.set_attn_implementation(attention)
            assert supports_prompt_sharing(model)
            summed, counts = forward_logps(model, batch, packing=True, share_prompt=True)
        assert torch.equal(counts, batch["ref_counts"])
        (summed * torch.arange(1.0, 7.0)).sum().backward()  # a different weight per row
        return summed.detach(), [p.grad for p in model.parameters()]

    padded, padded_grads = logps_and_grads(None)
    shared, shared_grads = logps_and_grads(SEGMENTS)
    assert torch.allclose(shared, padded, atol=1e-4)
    for a, b in zip(shared_grads, padded_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


def test_the_forward_computes_each_prompt_once(world_dir, batch):
    model = AutoModelForCausalLM.from_pretrained(world_dir / "base").eval()
    model.set_attn_implementation(SEGMENTS)
    seen = []
    model.model.embed_tokens.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[1]))
    with torch.no_grad():
        forward_logps(model, batch, packing=True, share_prompt=True)
        forward_logps(model, batch, packing=True)
    prompt_tokens = int((batch["attention_mask"] - batch["completion_mask"])[3:].sum())  # the rejected rows' prompts
    assert seen == [int(batch["attention_mask"].sum()) - prompt_tokens, int(batch["attention_mask"].sum())]


def test_an_attention_that_cannot_read_the_blocks_packs_the_rows_as_they_are(world_dir, batch):
    model = AutoModelForCausalLM.from_pretrained(world_dir / "base").eval()
    model.set_attn_implementation("sdpa")  # would let the rejected response see the chosen one
    assert not supports_prompt_sharing(model)
    with torch.no_grad():
        summed, _ = forward_logps(model, batch, packing=True, share_prompt=True)
    assert torch.allclose(summed, batch["ref_logps"], atol=1e-4)

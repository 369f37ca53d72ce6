"""Chat-template encoding, truncation, concatenated pair collation and micro-batching."""

import pytest
import torch
from transformers import AutoTokenizer

from bfpo_ray.data.records import PairRecord, SftRecord
from bfpo_ray.data.tokenize import ChatEncoder, collate_pairs, collate_sft
from bfpo_ray.workers.batching import micro_batches


@pytest.fixture(scope="module")
def tokenizer(world_dir):
    return AutoTokenizer.from_pretrained(world_dir / "base")


def user(text):
    return ({"role": "user", "content": text},)


def test_prompt_uses_chat_template_and_response_ends_with_eos(tokenizer):
    enc = ChatEncoder(tokenizer, max_length=128, max_prompt_length=64)
    ex = enc.sft(SftRecord(user("How do I bake sourdough bread?"), "Sure. Step 1: mix.", "x#0"))
    text = tokenizer.decode(ex.prompt_ids + ex.response_ids)
    assert text.startswith("<|user|>\nHow do I bake sourdough bread?<|eos|>\n<|assistant|>\n")
    assert text.endswith("Sure. Step 1: mix.<|eos|>")
    assert ex.response_ids[-1] == tokenizer.eos_token_id


def test_prompt_truncated_from_the_left_and_response_to_budget(tokenizer):
    long_prompt = "word " * 200 + "final question here"
    enc = ChatEncoder(tokenizer, max_length=40, max_prompt_length=16)
    ex = enc.pair(PairRecord(user(long_prompt), "a " * 100, "b", 1, 0, "x#0"))
    assert len(ex.prompt_ids) == 16
    assert tokenizer.decode(ex.prompt_ids).endswith("<|assistant|>\n")  # the end survives
    assert len(ex.prompt_ids) + len(ex.chosen_ids) == 40
    assert ex.rejected_ids[-1] == tokenizer.eos_token_id


def test_collate_pairs_rows_and_masks(tokenizer):
    enc = ChatEncoder(tokenizer, max_length=128, max_prompt_length=64)
    pairs = [enc.pair(PairRecord(user("How do I knit a simple scarf?"), "Sure. Step 1: cast on.", "Sorry.", 1, 1, "a")),
             enc.pair(PairRecord(user("Hi"), "ok", "Sure. Step 1: [x].", 0, 1, "b"))]
    batch = collate_pairs(pairs, pad_id=tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] == 4
    for row, (p, resp) in enumerate([(pairs[0], pairs[0].chosen_ids), (pairs[1], pairs[1].chosen_ids),
                                     (pairs[0], pairs[0].rejected_ids), (pairs[1], pairs[1].rejected_ids)]):
        n = len(p.prompt_ids) + len(resp)
        assert batch["input_ids"][row, :n].tolist() == p.prompt_ids + resp
        assert batch["attention_mask"][row].sum() == n
        assert batch["completion_mask"][row].sum() == len(resp)
        assert batch["completion_mask"][row, : len(p.prompt_ids)].sum() == 0
    assert batch["chosen_safe"].tolist() == [1.0, 0.0]
    assert batch["rejected_safe"].tolist() == [1.0, 1.0]
    # padded to the longest row only
    assert batch["input_ids"].shape[1] == int(batch["attention_mask"].sum(-1).max())


def test_micro_batches_keep_pairs_together_and_trim(tokenizer):
    enc = ChatEncoder(tokenizer, max_length=128, max_prompt_length=64)
    records = [PairRecord(user("q" * (i + 1)), "c" * (i + 1), "r", 1, 0, str(i)) for i in range(5)]
    batch = collate_pairs([enc.pair(r) for r in records], pad_id=0)
    batch["ref_logps"] = torch.arange(10.0)
    micros = list(micro_batches(batch, 2))
    assert [m["chosen_safe"].shape[0] for m in micros] == [2, 2, 1]
    assert micros[1]["ref_logps"].tolist() == [2.0, 3.0, 7.0, 8.0]  # chosen rows 2,3 then rejected rows 7,8
    assert torch.equal(micros[1]["input_ids"][0], batch["input_ids"][2, : micros[1]["input_ids"].shape[1]])
    for m in micros:
        assert m["input_ids"].shape[1] == int(m["attention_mask"].sum(-1).max())


def test_micro_batches_group_examples_by_length(tokenizer):
    enc = ChatEncoder(tokenizer, max_length=256, max_prompt_length=64)
    sizes = [40, 2, 38, 1]  # long, short, long, short: consecutive pairs would each pad a short row to a long one
    records = [PairRecord(user("q"), "c" * s, "r" * (s // 2), 1, 0, str(i)) for i, s in enumerate(sizes)]
    batch = collate_pairs([enc.pair(r) for r in records], pad_id=0)
    batch["ref_logps"] = torch.arange(8.0)
    micros = list(micro_batches(batch, 2))
    assert [m["ref_logps"].tolist() for m in micros] == [[3.0, 1.0, 7.0, 5.0], [2.0, 0.0, 6.0, 4.0]]
    padded = sum(m["input_ids"].numel() for m in micros)
    consecutive = sum(2 * 2 * max(int(batch["attention_mask"][[i, i + 1, 4 + i, 5 + i]].sum(-1).max()), 1)
                      for i in (0, 2))
    assert padded < 0.7 * consecutive
    # a batch that fits one micro-batch keeps its order
    assert list(micro_batches(batch, 4))[0]["ref_logps"].tolist() == list(range(8))


def test_collate_sft_marks_only_response(tokenizer):
    enc = ChatEncoder(tokenizer, max_length=128, max_prompt_length=64)
    ex = [enc.sft(SftRecord(user("How do I knit a simple scarf?"), "Sure.", "a"))]
    batch = collate_sft(ex, pad_id=0)
    assert batch["completion_mask"].sum() == len(ex[0].response_ids)


def test_encoder_requires_eos_and_template(tokenizer):
    class NoTemplate:
        eos_token_id = 1
        chat_template = None

    with pytest.raises(ValueError, match="chat_template"):
        ChatEncoder(NoTemplate(), 10, 5)

"""Chat-template tokenization, truncation and batch collation.

A prompt is rendered with the tokenizer's chat template (generation prompt appended) and a
response is tokenized on its own followed by the EOS token, so the model learns to stop.
The prompt is truncated from the LEFT to ``max_prompt_length`` (the question at the end of
a long conversation survives); the response is then truncated from the right so that
prompt + response fits ``max_length``.

Pairs are collated for ONE concatenated forward: rows [0, B) hold prompt+chosen and rows
[B, 2B) prompt+rejected, right-padded to the longest row of the batch only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bfpo_ray.config import ConfigError
from bfpo_ray.data.records import PairRecord, SftRecord


@dataclass(frozen=True)
class EncodedPair:
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    chosen_safe: int
    rejected_safe: int


@dataclass(frozen=True)
class EncodedSft:
    prompt_ids: list[int]
    response_ids: list[int]


class ChatEncoder:
    """Turns records into token ids with one tokenizer and one length budget."""

    def __init__(self, tokenizer, max_length: int, max_prompt_length: int) -> None:
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token: set one before training")
        if tokenizer.chat_template is None:
            raise ValueError("the tokenizer has no chat_template: set one before training")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_prompt_length = max_prompt_length
        self.truncated_prompts = 0  # prompts cut to max_prompt_length so far (reported by the data loader)
        closing = self.template_tail()
        if max_prompt_length <= closing:
            raise ConfigError(f"config key 'data.max_prompt_length': {max_prompt_length} tokens leave no room for "
                              f"prompt text (the chat template's end after the question alone takes {closing}): "
                              "raise data.max_prompt_length and data.max_length")

    def template_tail(self) -> int:
        """Tokens the chat template adds after the last user message (left truncation keeps them first)."""
        marker = "\u2063question\u2063"
        text = self.tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False,
                                                  add_generation_prompt=True)
        return len(self.tokenizer(text[text.rindex(marker) + len(marker):], add_special_tokens=False)["input_ids"])

    def prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        self.truncated_prompts += len(ids) > self.max_prompt_length
        return ids[-self.max_prompt_length :]

    def response(self, text: str, prompt_len: int) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        return ids[: max(self.max_length - prompt_len, 1)]

    def pair(self, record: PairRecord) -> EncodedPair:
        prompt = self.prompt(record.prompt)
        return EncodedPair(
            prompt_ids=prompt,
            chosen_ids=self.response(record.chosen, len(prompt)),
            rejected_ids=self.response(record.rejected, len(prompt)),
            chosen_safe=int(record.chosen_safe),
            rejected_safe=int(record.rejected_safe),
        )

    def sft(self, record: SftRecord) -> EncodedSft:
        prompt = self.prompt(record.prompt)
        return EncodedSft(prompt_ids=prompt, response_ids=self.response(record.response, len(prompt)))


def _pad_rows(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(p) + len(r) for p, r in zip(prompts, responses, strict=True))
    n = len(prompts)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    completion_mask = torch.zeros((n, width), dtype=torch.long)
    for row, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        ids = p + r
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
        completion_mask[row, len(p) : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "completion_mask": completion_mask}


def collate_pairs(pairs: Sequence[EncodedPair], pad_id: int) -> dict[str, torch.Tensor]:
    """Rows [0, B): prompt+chosen, rows [B, 2B): prompt+rejected, plus safety labels [B]."""
    prompts = [p.prompt_ids for p in pairs] * 2
    responses = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    batch = _pad_rows(prompts, responses, pad_id)
    batch["chosen_safe"] = torch.tensor([p.chosen_safe for p in pairs], dtype=torch.float32)
    batch["rejected_safe"] = torch.tensor([p.rejected_safe for p in pairs], dtype=torch.float32)
    return batch


def collate_sft(examples: Sequence[EncodedSft], pad_id: int) -> dict[str, torch.Tensor]:
    """Rows of prompt+response with the response tokens marked in ``completion_mask``."""
    return _pad_rows([e.prompt_ids for e in examples], [e.response_ids for e in examples], pad_id)


def pad_id_of(tokenizer) -> int:
    """The padding id: the tokenizer's pad token, else its EOS (masked out either way)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

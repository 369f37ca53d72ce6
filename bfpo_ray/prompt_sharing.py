"""Pair batches with each prompt computed once (``model.share_prompt``): one packed block per pair.

A pair's chosen and rejected rows begin with the same prompt; packed as two sequences (:mod:`bfpo_ray.packing`)
the prompt's forward and backward run twice. Shared, pair b is one block of the packed row

    prompt (P tokens, positions 0..P-1) | chosen response (C, positions P..P+C-1) | rejected response (R, P..P+R-1)

in which prompt + chosen attend causally as one sequence, and rejected query i attends to the prompt and to
rejected tokens 0..i, never to the chosen response (``sdpa_segments``, :mod:`bfpo_ray.segment_attention`).
Every token sees exactly the tokens it sees in its own row, so the log-probs are those of the two rows up to
float rounding (with dropout on, the prompt gets one dropout sample for both), and a pair costs P + C + R
positions instead of 2P + C + R. The first response token of both answers is predicted by the prompt's last
position: its logits are computed once and read twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bfpo_ray.logprobs import label_logps
from bfpo_ray.packing import sums_per_row
from bfpo_ray.response_logits import logits_at
from bfpo_ray.segment_attention import SEGMENTS

Tensor = torch.Tensor


@dataclass(frozen=True)
class SharedPromptPack:
    input_ids: Tensor  # [1, T]
    position_ids: Tensor  # [1, T]
    blocks: Tensor  # [pairs, 4]: each pair's block start in the row, prompt, chosen and rejected lengths
    labels: Tensor  # [K]: packed positions of the response tokens
    predictors: Tensor  # [K]: the packed position whose logits predict each label
    owner: Tensor  # [K]: the batch row each label belongs to


def supports_prompt_sharing(model: torch.nn.Module) -> bool:
    """Only the ``sdpa_segments`` attention reads the blocks; any other would let the rejected response see
    the chosen one (or, by position ids, miss the prompt)."""
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) == SEGMENTS


def share_prompts(batch: dict[str, Tensor]) -> SharedPromptPack | None:
    """The blocks of a right-padded pair batch (rows [0, B) prompt + chosen, rows [B, 2B) prompt + rejected,
    each row its prompt then its response), or None when some pair's two prompts differ or a row is not
    prompt-then-response (the caller then packs the rows as they are)."""
    ids, mask, response = batch["input_ids"], batch["attention_mask"].bool(), batch["completion_mask"].bool()
    rows, width = ids.shape
    pairs = rows // 2
    prompt_len = (mask & ~response).sum(-1)
    columns = torch.arange(width, device=ids.device).expand(rows, width)
    in_prompt = columns < prompt_len[:, None]
    shareable = (rows % 2 == 0 and bool((prompt_len > 0).all()) and bool((response == (mask & ~in_prompt)).all())
                 and bool((prompt_len[:pairs] == prompt_len[pairs:]).all())
                 and bool(((ids[:pairs] == ids[pairs:]) | ~in_prompt[:pairs]).all()))
    if not shareable:
        return None
    keep = mask.clone()
    keep[pairs:] &= response[pairs:]  # a rejected row contributes its response; its prompt is the chosen row's
    pair_rows = torch.arange(pairs, device=ids.device)
    order = torch.stack([pair_rows, pair_rows + pairs], 1).flatten()  # chosen 0, rejected 0, chosen 1, ...
    flat = (order[:, None] * width + columns)[keep[order]]  # [T]: which (row, column) each packed token is
    where = torch.full((rows * width,), -1, dtype=torch.long, device=ids.device)
    where[flat] = torch.arange(flat.numel(), device=ids.device)
    where = where.view(rows, width)
    where[pairs:] = torch.where(in_prompt[pairs:], where[:pairs], where[pairs:])
    label_rows, label_columns = torch.nonzero(response, as_tuple=True)
    lengths = mask.sum(-1)
    return SharedPromptPack(
        input_ids=ids.reshape(-1)[flat][None], position_ids=columns.reshape(-1)[flat][None],
        blocks=_blocks(prompt_len[:pairs], lengths[:pairs] - prompt_len[:pairs],
                       lengths[pairs:] - prompt_len[pairs:]),
        labels=where[label_rows, label_columns], predictors=where[label_rows, label_columns - 1], owner=label_rows)


def _blocks(prompt: Tensor, chosen: Tensor, rejected: Tensor) -> Tensor:
    sizes = prompt + chosen + rejected
    return torch.stack([sizes.cumsum(0) - sizes, prompt, chosen, rejected], 1)


def shared_prompt_logps(model: torch.nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor] | None:
    """Summed response log-probs and response token counts per batch row (shape [2B]) from one packed row of
    one block per pair; None when :func:`share_prompts` finds no shared prompts."""
    shared = share_prompts(batch)
    if shared is None:
        return None
    logits = logits_at(model, shared.predictors, input_ids=shared.input_ids, position_ids=shared.position_ids,
                       use_cache=False, shared_prompt_blocks=shared.blocks)
    per_token = label_logps(logits, shared.input_ids[:, shared.labels])[0]
    return sums_per_row(per_token, shared.owner, batch["input_ids"].shape[0])

"""Padding-free forwards (``model.packing``): a micro-batch's sequences laid end to end in fewer rows.

A right-padded batch of rows of lengths L_1..L_B computes B x max(L) token positions. Packed, the sequences
are placed first-fit-decreasing into rows of at most ``row_tokens`` tokens, each sequence with its own
position ids 0..L_b-1. Transformers reads a position id that does not follow its predecessor (+1) as the start
of a new sequence and masks attention block-diagonally (``find_packed_sequence_indices``; flash-attention
takes the same position ids as variable-length sequences), so every token sees exactly the tokens it would
see in its own padded row: the same log-probs up to float rounding, from fewer computed positions.

The matmuls scale with the packed positions; SDPA attention scales with rows x row_tokens^2, so a wider row
trades padding for attention: the default, twice the longest sequence, keeps attention within 2x of the
padded batch's while two shorter sequences can share a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bfpo_ray.logprobs import token_logps

Tensor = torch.Tensor


def first_fit_rows(lengths: list[int], row_tokens: int) -> list[list[int]]:
    """Sequence indices per packed row: longest first, each into the first row with room (first-fit decreasing).

    A sequence longer than ``row_tokens`` gets a row of its own.
    """
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        slot = next((r for r, free in enumerate(room) if free >= lengths[index]), None)
        if slot is None:
            rows.append([index])
            room.append(row_tokens - lengths[index])
        else:
            rows[slot].append(index)
            room[slot] -= lengths[index]
    return rows


@dataclass(frozen=True)
class PackedBatch:
    """A right-padded batch laid out in packed rows; ``sequence[r, t]`` is the batch row token t of packed row r
    came from (-1 for the filler after a row's last sequence)."""

    input_ids: Tensor  # [rows, width]
    position_ids: Tensor  # [rows, width]
    completion_mask: Tensor  # [rows, width]
    sequence: Tensor  # [rows, width]
    batch_rows: int


def pack(batch: dict[str, Tensor], row_tokens: int = 0) -> PackedBatch:
    """Pack the rows of a right-padded batch (``input_ids``, ``attention_mask``, ``completion_mask``).

    ``row_tokens`` 0 means twice the longest sequence. The filler at the end of a packed row counts up from 0, so
    it is a sequence of its own that no real token attends to.
    """
    if bool(batch["completion_mask"][:, 0].any()):
        raise ValueError("model.packing: a row starts with a response token (no prompt); packed sequences need one")
    lengths = [int(n) for n in batch["attention_mask"].sum(-1)]
    rows = first_fit_rows(lengths, row_tokens or 2 * max(lengths))
    width = max(sum(lengths[i] for i in row) for row in rows)
    shape = (len(rows), width)
    device = batch["input_ids"].device
    input_ids = torch.zeros(shape, dtype=torch.long, device=device)
    completion = torch.zeros(shape, dtype=batch["completion_mask"].dtype, device=device)
    sequence = torch.full(shape, -1, dtype=torch.long, device=device)
    positions = torch.arange(width, device=device).repeat(len(rows), 1)
    for r, members in enumerate(rows):
        start = 0
        for index in members:
            end = start + lengths[index]
            input_ids[r, start:end] = batch["input_ids"][index, : lengths[index]]
            completion[r, start:end] = batch["completion_mask"][index, : lengths[index]]
            sequence[r, start:end] = index
            positions[r, start:end] = torch.arange(lengths[index], device=device)
            start = end
        positions[r, start:] = torch.arange(width - start, device=device)
    return PackedBatch(input_ids, positions, completion, sequence, len(lengths))


def packed_sequence_logps(model: torch.nn.Module, batch: dict[str, Tensor],
                          row_tokens: int = 0) -> tuple[Tensor, Tensor]:
    """Summed response log-probs and response token counts per batch row (shape [batch]), from packed rows.

    sum_b = sum over tokens t of row b's response of log pi(x_t | x_<t of the same sequence): a label token
    belongs to the sequence of its own position; the first token of every sequence is a prompt token, so the
    prediction across a sequence boundary is never counted.
    """
    packed = pack(batch, row_tokens)
    logits = model(input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False).logits
    per_token = token_logps(logits, packed.input_ids)
    counted = packed.completion_mask[:, 1:].bool()
    owner = packed.sequence[:, 1:][counted]
    summed = per_token.new_zeros(packed.batch_rows).index_add(0, owner, per_token[counted])
    counts = per_token.new_zeros(packed.batch_rows, dtype=torch.float32).index_add(
        0, owner, torch.ones_like(owner, dtype=torch.float32))
    return summed, counts

"""Padding-free forwards (``model.packing``): a micro-batch's sequences laid end to end in fewer rows.

A right-padded batch of rows of lengths L_1..L_B computes B x max(L) token positions. Packed, the sequences
are spread over rows of near-equal length, at most ``row_tokens`` long, the row count chosen to compute the
fewest positions (:func:`balanced_rows`), each sequence with its own position ids 0..L_b-1. Transformers reads
a position id that does not follow its predecessor (+1) as the start of a new sequence and masks attention
block-diagonally (``find_packed_sequence_indices``; flash-attention takes the same position ids as
variable-length sequences), so every token sees exactly the tokens it would see in its own padded row: the
same log-probs up to float rounding, from fewer computed positions.

The matmuls scale with the packed positions; SDPA attention scales with rows x width^2, so a wider row
trades padding for attention: the default, twice the longest sequence, keeps attention within about 2x of
the padded batch's. On GPU, flash-attention's variable-length kernel has no such cost: one long row is best.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import torch

from bfpo_ray.logprobs import token_logps

Tensor = torch.Tensor


def _spread(lengths: list[int], order: list[int], count: int) -> tuple[list[list[int]], int]:
    """Longest first into the row with the fewest tokens so far (longest-processing-time scheduling); the rows
    and the longest row's length."""
    heap = [(0, r) for r in range(count)]
    rows: list[list[int]] = [[] for _ in range(count)]
    for index in order:
        filled, r = heapq.heappop(heap)
        rows[r].append(index)
        heapq.heappush(heap, (filled + lengths[index], r))
    return rows, max(filled for filled, _ in heap)


def balanced_rows(lengths: list[int], row_tokens: int) -> list[list[int]]:
    """Sequence indices per packed row: of every row count whose rows (filled by :func:`_spread`) stay within
    ``row_tokens`` (or hold one sequence each), the one that computes the fewest positions (rows x longest row).

    Ties go to fewer rows. Rows left empty are dropped.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    best: tuple[int, list[list[int]]] | None = None
    fewest = min(len(lengths), max(1, -(-sum(lengths) // max(1, row_tokens))))
    for count in range(fewest, len(lengths) + 1):
        rows, width = _spread(lengths, order, count)
        if (width <= row_tokens or count == len(lengths)) and (best is None or count * width < best[0]):
            best = (count * width, rows)
    return [row for row in best[1] if row]


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
    mask = batch["attention_mask"]
    if bool((mask[:, 1:] > mask[:, :-1]).any()):
        raise ValueError("model.packing: rows must be right-padded (attention mask 1...1 0...0)")
    if bool(batch["completion_mask"][:, 0].any()):
        raise ValueError("model.packing: a row starts with a response token (no prompt); packed sequences need one")
    lengths = [int(n) for n in mask.sum(-1)]
    rows = balanced_rows(lengths, row_tokens or 2 * max(lengths))
    width = max(sum(lengths[i] for i in row) for row in rows)
    # per packed position: the batch row it is copied from (-1 for filler) and its position id, which is also
    # its column in that row (the filler counts from 0 too: a sequence of its own)
    source_row: list[int] = []
    position: list[int] = []
    for members in rows:
        for index in members:
            source_row += [index] * lengths[index]
            position += range(lengths[index])
        filler = width - sum(lengths[i] for i in members)
        source_row += [-1] * filler
        position += range(filler)
    device = batch["input_ids"].device
    sequence = torch.tensor(source_row, device=device).view(len(rows), width)
    position_ids = torch.tensor(position, device=device).view(len(rows), width)
    real = sequence >= 0
    take = (sequence.clamp(min=0), torch.where(real, position_ids, 0))
    input_ids = torch.where(real, batch["input_ids"][take], 0)
    completion = torch.where(real, batch["completion_mask"][take], 0)
    return PackedBatch(input_ids, position_ids, completion, sequence, len(lengths))


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
    counts = torch.bincount(owner, minlength=packed.batch_rows).float()
    return summed, counts

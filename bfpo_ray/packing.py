"""Padding-free forwards (``model.packing``): a micro-batch's sequences laid end to end in one row.

A right-padded batch of rows of lengths L_1..L_B computes B x max(L) token positions; packed, it computes
sum_b L_b: the matmuls (nearly all of a step's FLOPs) run on real tokens only. Each sequence keeps its own
position ids 0..L_b-1 and attends only to itself: the forward passes the cumulative lengths ``cu_seq_lens_q``
(/``_k``), which flash-attention's variable-length kernel takes as they are and this project's ``sdpa_segments``
attention (:mod:`bfpo_ray.segment_attention`, what a packing model loads with in place of SDPA) splits into one
causal SDPA call per sequence; other attention implementations see the position ids, which transformers turns
into a block-diagonal mask. Every token sees exactly the tokens it would see in its own padded row: the same
log-probs up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bfpo_ray.logprobs import label_logps
from bfpo_ray.response_logits import logits_at

Tensor = torch.Tensor


@dataclass(frozen=True)
class PackedBatch:
    """A right-padded batch as one row of its real tokens; ``sequence[0, t]`` is the batch row token t came from."""

    input_ids: Tensor  # [1, T]
    position_ids: Tensor  # [1, T]
    completion_mask: Tensor  # [1, T]
    sequence: Tensor  # [1, T]
    cu_seq_lens: Tensor  # [batch + 1], int32: where each sequence starts, then T
    longest: int

    @property
    def batch_rows(self) -> int:
        return self.cu_seq_lens.numel() - 1

    def attention_kwargs(self) -> dict:
        """The variable-length keywords of a packed forward (flash-attention's names)."""
        return {"cu_seq_lens_q": self.cu_seq_lens, "cu_seq_lens_k": self.cu_seq_lens,
                "max_length_q": self.longest, "max_length_k": self.longest}


def pack(batch: dict[str, Tensor]) -> PackedBatch:
    """Pack the rows of a right-padded batch (``input_ids``, ``attention_mask``, ``completion_mask``) end to end."""
    mask = batch["attention_mask"]
    if bool((mask[:, 1:] > mask[:, :-1]).any()):
        raise ValueError("model.packing: rows must be right-padded (attention mask 1...1 0...0); "
                         "set model.packing=false for other batches")
    if bool(batch["completion_mask"][:, 0].any()):
        raise ValueError("model.packing: a row starts with a response token (no prompt); packed sequences need one "
                         "(or set model.packing=false)")
    real = mask.bool()
    lengths = real.sum(-1)
    device = batch["input_ids"].device
    cu_seq_lens = torch.zeros(len(lengths) + 1, dtype=torch.int32, device=device)
    cu_seq_lens[1:] = lengths.cumsum(0)
    columns = torch.arange(mask.shape[1], device=device).expand_as(mask)
    rows = torch.arange(mask.shape[0], device=device)[:, None].expand_as(mask)
    return PackedBatch(batch["input_ids"][real][None], columns[real][None], batch["completion_mask"][real][None],
                       rows[real][None], cu_seq_lens, int(lengths.max()))


def packed_sequence_logps(model: torch.nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Summed response log-probs and response token counts per batch row (shape [batch]), from one packed row.

    sum_b = sum over tokens t of row b's response of log pi(x_t | x_<t of the same sequence): a label token
    belongs to the sequence of its own position; the first token of every sequence is a prompt token, so the
    prediction across a sequence boundary is never counted. Logits are computed at the predicting positions
    only (:func:`~bfpo_ray.response_logits.logits_at`).
    """
    packed = pack(batch)
    labels = torch.nonzero(packed.completion_mask[0]).flatten()  # response tokens; never position 0 (see pack)
    logits = logits_at(model, labels - 1, input_ids=packed.input_ids, position_ids=packed.position_ids,
                       use_cache=False, **packed.attention_kwargs())  # logits at t - 1 predict token t
    per_token = label_logps(logits, packed.input_ids[:, labels])[0]
    return sums_per_row(per_token, packed.sequence[0, labels], packed.batch_rows)


def sums_per_row(per_token: Tensor, owner: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """Per batch row: the sum of the ``per_token`` values whose ``owner`` is that row, and their count."""
    summed = per_token.new_zeros(rows).index_add(0, owner, per_token)
    return summed, torch.bincount(owner, minlength=rows).float()

"""Attention over packed sequences at the cost of the sequences alone (``model.packing`` with SDPA or eager).

Packed, a row holds several sequences end to end (see :mod:`bfpo_ray.packing`). Transformers' SDPA path masks
such a row block-diagonally and still computes every query against every key of the row: width^2 per row
instead of sum_i L_i^2. ``sdpa_segments`` attends within each sequence separately, a causal SDPA call per
sequence, so attention costs what the sequences cost and no [width x width] mask is built:

    out[s:e] = softmax(q[s:e] k[s:e]^T * scale + causal) v[s:e]   for every sequence [s, e) of the row

The sequences come from ``cu_seq_lens_q`` (cumulative lengths, the keyword flash-attention's variable-length
path takes, so one call serves both) or, when it is absent, from the position ids (a position that does not
follow its predecessor by +1 starts a sequence). A forward with a padding mask, or a row holding one
sequence, takes transformers' own SDPA path unchanged.

With ``shared_prompt_blocks`` (``model.share_prompt``, :mod:`bfpo_ray.prompt_sharing`) the row holds one block
per pair, prompt | chosen | rejected; per block two calls:

    out[prompt + chosen] = causal attention over prompt + chosen
    out[rejected]        = softmax(q_rej [k_prompt; k_rej]^T * scale + rejected_mask) [v_prompt; v_rej]
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

Tensor = torch.Tensor

#: the ``attn_implementation`` name under which :func:`segment_attention_forward` is registered
SEGMENTS = "sdpa_segments"


def sequence_bounds(position_ids: Tensor) -> list[int]:
    """Cumulative sequence boundaries [0, e_1, ..., T] of one packed row's position ids (shape [1, T] or [T])."""
    positions = position_ids.reshape(-1)
    starts = torch.nonzero(positions[1:] != positions[:-1] + 1).flatten() + 1
    return [0, *starts.tolist(), positions.numel()]


@torch.compiler.disable
def _attend_per_sequence(query: Tensor, key: Tensor, value: Tensor, bounds: list[int], scaling: float | None,
                         dropout: float) -> Tensor:
    lengths = [e - s for s, e in zip(bounds[:-1], bounds[1:], strict=False)]
    pieces = [F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True, scale=scaling)
              for q, k, v in zip(*(t.split(lengths, dim=2) for t in (query, key, value)), strict=True)
              if q.shape[2] > 0]
    return torch.cat(pieces, dim=2) if len(pieces) > 1 else pieces[0]


def rejected_response_mask(prompt: int, rejected: int, device: torch.device | str = "cpu") -> Tensor:
    """[rejected, prompt + rejected] boolean: rejected query i attends to key j when j <= prompt + i (causal,
    aligned to the bottom right: the whole prompt, then the rejected tokens up to itself)."""
    return torch.ones(rejected, prompt + rejected, dtype=torch.bool, device=device).tril(prompt)


@torch.compiler.disable
def _attend_shared_prompts(query: Tensor, key: Tensor, value: Tensor, blocks: Tensor, scaling: float | None,
                           dropout: float) -> Tensor:
    sizes = blocks.tolist()
    # pieces 2i and 2i + 1: pair i's prompt + chosen and its rejected response. Split, not sliced: split's
    # backward writes each piece's gradient once, a slice's zero-fills a gradient as long as the whole row
    parts = [n for _, prompt, chosen, rejected in sizes for n in (prompt + chosen, rejected)]
    q, k, v = (t.split(parts, dim=2) for t in (query, key, value))
    out = []
    for i, (_, prompt, _, rejected) in enumerate(sizes):
        own, rej = 2 * i, 2 * i + 1
        out.append(F.scaled_dot_product_attention(q[own], k[own], v[own], dropout_p=dropout, is_causal=True,
                                                  scale=scaling))
        if rejected:
            keys = torch.cat([k[own][:, :, :prompt], k[rej]], dim=2)
            values = torch.cat([v[own][:, :, :prompt], v[rej]], dim=2)
            out.append(F.scaled_dot_product_attention(q[rej], keys, values, dropout_p=dropout, scale=scaling,
                                                      attn_mask=rejected_response_mask(prompt, rejected, query.device)))
    return torch.cat(out, dim=2)


def segment_attention_forward(module: torch.nn.Module, query: Tensor, key: Tensor, value: Tensor,
                              attention_mask: Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                              cu_seq_lens_q: Tensor | None = None, position_ids: Tensor | None = None,
                              shared_prompt_blocks: Tensor | None = None, **kwargs) -> tuple[Tensor, None]:
    """Transformers attention interface: ``query`` [batch, heads, T, dim]; returns [batch, T, heads, dim]."""
    packed_row = attention_mask is None and query.shape[0] == 1 and query.shape[2] == key.shape[2] > 1
    if packed_row and shared_prompt_blocks is not None:
        attend = functools.partial(_attend_shared_prompts, blocks=shared_prompt_blocks)
    else:
        bounds = None
        if packed_row and cu_seq_lens_q is not None:
            bounds = cu_seq_lens_q.tolist()
        elif packed_row and position_ids is not None:
            bounds = sequence_bounds(position_ids)
        if bounds is None or len(bounds) <= 2:
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                          scaling=scaling, position_ids=position_ids, **kwargs)
        attend = functools.partial(_attend_per_sequence, bounds=bounds)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    out = attend(query, key, value, scaling=scaling, dropout=dropout)
    return out.transpose(1, 2).contiguous(), None


def _segment_mask(*args, attention_mask: Tensor | None = None, **kwargs) -> Tensor | None:
    """No mask for a forward without padding mask or cache (packed rows are split by
    :func:`segment_attention_forward`, a lone sequence is plain causal); transformers' SDPA mask otherwise."""
    if attention_mask is None and kwargs.get("q_length") == kwargs.get("kv_length"):
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


AttentionInterface.register(SEGMENTS, segment_attention_forward)
ALL_MASK_ATTENTION_FUNCTIONS.register(SEGMENTS, _segment_mask)

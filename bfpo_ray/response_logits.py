"""Logits only at the positions a loss reads, not at every prompt position.

Pair and SFT losses read log pi(x_t | x_<t) of response tokens only, so the lm_head (hidden x vocab per
position) and the float32 log-softmax behind it are wasted on prompt positions. Transformers' causal LMs
take ``logits_to_keep`` (an int k: the last k positions; a 1-D tensor: those positions) and apply the lm_head
there alone. A model whose forward lacks it computes every position and the wanted ones are sliced out: the
same values at the full cost.
"""

from __future__ import annotations

import functools
import inspect

import torch

Tensor = torch.Tensor


@functools.cache
def _takes_logits_to_keep(model_class: type) -> bool:
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def logits_at(model: torch.nn.Module, keep: int | Tensor, **inputs: object) -> Tensor:
    """``model(**inputs).logits`` [batch, positions, vocab] of the last ``keep`` positions (int, > 0) or of the
    positions in ``keep`` (1-D long tensor), computed there only when the model supports it."""
    if _takes_logits_to_keep(type(model)):
        return model(**inputs, logits_to_keep=keep).logits
    logits = model(**inputs).logits
    return logits[:, -keep:] if isinstance(keep, int) else logits[:, keep]


def first_scored_position(completion_mask: Tensor) -> int:
    """The first position whose logits predict a response token of some row (0 when no row has one past
    position 0); a right-padded batch needs logits from there to the end."""
    columns = torch.nonzero(completion_mask[:, 1:].any(0)).flatten()
    return int(columns[0]) if columns.numel() else 0

"""Per-token and per-sequence log-probabilities of responses under a causal LM."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def token_logps(logits: Tensor, input_ids: Tensor) -> Tensor:
    """log pi(x_t | x_<t) for t >= 1, shape [batch, seq - 1].

    Computed as logit[label] - logsumexp(logits) in float32 so that no [batch, seq, vocab]
    log-softmax copy is materialised beyond the logits themselves.
    """
    shifted = logits[:, :-1, :].float()
    labels = input_ids[:, 1:].unsqueeze(-1)
    picked = torch.gather(shifted, 2, labels).squeeze(-1)
    return picked - torch.logsumexp(shifted, dim=-1)


def sequence_logps(logits: Tensor, input_ids: Tensor, completion_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Summed response log-probs and response token counts, each of shape [batch].

    ``completion_mask[b, t]`` is 1 where token t of row b belongs to the response.
    """
    mask = completion_mask[:, 1:].to(torch.float32)
    per_token = token_logps(logits, input_ids)
    return (per_token * mask).sum(-1), mask.sum(-1)


def reduce_logps(summed: Tensor, counts: Tensor, reduction: str) -> Tensor:
    """``sum`` keeps summed log-probs; ``mean`` divides by the response length."""
    if reduction == "sum":
        return summed
    if reduction == "mean":
        return summed / counts.clamp(min=1.0)
    raise ValueError(f"logp reduction must be 'sum' or 'mean', got {reduction!r}")

"""Per-token and per-sequence log-probabilities of responses under a causal LM."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


#: logits converted to float32 at a time by :func:`label_logps` (2**25 floats: 128 MiB)
FLOAT_CHUNK_ELEMENTS = 2**25


def _chosen_minus_logsumexp(logits: Tensor, labels: Tensor) -> Tensor:
    part = logits.float()
    return torch.gather(part, 2, labels).squeeze(-1) - torch.logsumexp(part, dim=-1)


def label_logps(logits: Tensor, labels: Tensor, chunk_elements: int = FLOAT_CHUNK_ELEMENTS) -> Tensor:
    """log softmax(logits[b, p])[labels[b, p]], shape [batch, positions] (``labels`` aligned with ``logits``).

    Computed as logit[label] - logsumexp(logits) in float32, a chunk at a time (whole rows, or pieces of a row
    when one row is longer, as a packed row is), so that neither a [batch, positions, vocab] log-softmax nor a
    full float32 copy of bf16 logits is ever materialised: at most ``chunk_elements`` logits are converted at
    once (float32 logits are used as they are).
    """
    labels = labels.unsqueeze(-1)
    batch, steps, vocab = logits.shape
    tokens = max(1, chunk_elements // max(1, vocab))
    if tokens >= steps:
        rows = tokens // max(1, steps)
        parts = [_chosen_minus_logsumexp(logits[r : r + rows], labels[r : r + rows]) for r in range(0, batch, rows)]
        return torch.cat(parts) if len(parts) > 1 else parts[0]
    pieces = [[_chosen_minus_logsumexp(logits[r : r + 1, t : t + tokens], labels[r : r + 1, t : t + tokens])
               for t in range(0, steps, tokens)] for r in range(batch)]
    return torch.cat([torch.cat(row, dim=1) for row in pieces])


def token_logps(logits: Tensor, input_ids: Tensor, chunk_elements: int = FLOAT_CHUNK_ELEMENTS) -> Tensor:
    """log pi(x_t | x_<t) for t >= 1, shape [batch, seq - 1]: :func:`label_logps` of each position's next token."""
    return label_logps(logits[:, :-1, :], input_ids[:, 1:], chunk_elements)


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

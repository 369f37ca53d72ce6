"""Slicing collated batches into micro-batches without padding waste."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

Tensor = torch.Tensor
_ROW_KEYS = ("input_ids", "attention_mask", "completion_mask")
#: rows per no-grad forward (log-probs, values, scores) when the worker has no micro-batch size of its own
PASS_ROWS = 16


def batch_size(batch: dict[str, Tensor]) -> int:
    """Examples in a batch: pairs for a pair batch (2 rows each), rows otherwise."""
    return int(batch["chosen_safe"].shape[0]) if "chosen_safe" in batch else int(batch["input_ids"].shape[0])


def _trim(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    width = int(batch["attention_mask"].sum(-1).max())
    return {k: (v[:, :width] if k in _ROW_KEYS else v) for k, v in batch.items()}


def micro_batches(batch: dict[str, Tensor], size: int, by_length: bool = True) -> Iterator[dict[str, Tensor]]:
    """Micro-batches of ``size`` examples, each trimmed to its own longest row.

    With ``by_length``, when the batch needs more than one, examples are grouped by length (shortest first),
    so that each micro-batch pads to a width close to its rows' own: the summed loss and gradient are the
    same for any grouping, the padded tokens computed are fewer. Without it the micro-batches are
    consecutive slices, for callers that concatenate per-micro-batch outputs in row order. A pair batch
    keeps chosen rows [0,B) and rejected rows [B,2B) together: an example's length is its longer row, and a
    micro-batch of examples I takes rows I and B+I.
    """
    n = batch_size(batch)
    paired = "chosen_safe" in batch
    lengths = batch["attention_mask"].sum(-1)
    if paired:
        lengths = torch.maximum(lengths[:n], lengths[n:])
    order = torch.argsort(lengths, stable=True) if by_length and n > size else torch.arange(n)
    for start in range(0, n, size):
        examples = order[start : start + size]
        rows = torch.cat([examples, examples + n]) if paired else examples
        yield _trim({key: value[rows] if paired and value.shape[0] == 2 * n else value[examples]
                     for key, value in batch.items()})


def in_row_chunks(fn: Callable[[dict[str, Tensor]], Tensor], batch: dict[str, Tensor], rows: int) -> Tensor:
    """``fn`` on consecutive slices of ``rows`` rows (full width, so the outputs line up), concatenated on
    dim 0. A forward pass then holds the activations and logits of ``rows`` rows, not of the whole batch."""
    n = int(batch["input_ids"].shape[0])
    parts = [fn({k: v[start : start + rows] for k, v in batch.items() if v.shape[0] == n})
             for start in range(0, n, max(1, rows))]
    return torch.cat(parts) if len(parts) > 1 else parts[0]

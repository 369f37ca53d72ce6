"""Slicing collated batches into micro-batches without padding waste."""

from __future__ import annotations

from collections.abc import Iterator

import torch

Tensor = torch.Tensor
_ROW_KEYS = ("input_ids", "attention_mask", "completion_mask")


def batch_size(batch: dict[str, Tensor]) -> int:
    """Examples in a batch: pairs for a pair batch (2 rows each), rows otherwise."""
    return int(batch["chosen_safe"].shape[0]) if "chosen_safe" in batch else int(batch["input_ids"].shape[0])


def _trim(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    width = int(batch["attention_mask"].sum(-1).max())
    return {k: (v[:, :width] if k in _ROW_KEYS else v) for k, v in batch.items()}


def micro_batches(batch: dict[str, Tensor], size: int) -> Iterator[dict[str, Tensor]]:
    """Consecutive micro-batches of ``size`` examples, each trimmed to its own longest row.

    A pair batch keeps chosen rows [0,B) and rejected rows [B,2B) together: micro-batch
    [i, j) takes rows [i, j) and [B+i, B+j).
    """
    n = batch_size(batch)
    paired = "chosen_safe" in batch
    for start in range(0, n, size):
        stop = min(start + size, n)
        if paired:
            rows = torch.cat([torch.arange(start, stop), torch.arange(n + start, n + stop)])
        else:
            rows = torch.arange(start, stop)
        micro = {}
        for key, value in batch.items():
            if value.shape[0] == 2 * n and paired:
                micro[key] = value[rows]
            else:
                micro[key] = value[start:stop]
        yield _trim(micro)

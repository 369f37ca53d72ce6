"""Grouping named tensors into size-bounded buckets for policy -> rollout-engine weight sync.

One bucket travels as one object (one Ray object-store put and one engine call) instead of one
call per tensor; a tensor larger than the bucket size gets a bucket of its own.
"""

from __future__ import annotations

import torch


def plan_buckets(sizes: list[tuple[str, int]], bucket_bytes: int) -> list[list[str]]:
    """Consecutive names grouped so that each group's byte total stays <= ``bucket_bytes``."""
    buckets: list[list[str]] = []
    current: list[str] = []
    filled = 0
    for name, nbytes in sizes:
        if current and filled + nbytes > bucket_bytes:
            buckets.append(current)
            current, filled = [], 0
        current.append(name)
        filled += nbytes
    if current:
        buckets.append(current)
    return buckets


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes of the FULL tensor (a ZeRO-3 partitioned parameter holds an empty shard; ``ds_numel`` is its size)."""
    return int(getattr(tensor, "ds_numel", tensor.numel())) * tensor.element_size()

"""``strategy: torch``: full replicas, gradients summed across ranks once per optimizer step.

This is DDP with ``no_sync`` accumulation, written out: micro-batches accumulate locally,
then the gradients are flattened into buckets of ``bucket_mb`` and all-reduced (SUM) over
gloo or NCCL. Doing it explicitly keeps the worker's ``self.model`` the plain Hugging Face
module (subclasses may run any forward through it) while every rank stays bit-identical.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from bfpo_ray.strategies.base import Strategy, check_norm


class TorchStrategy(Strategy):
    """Plain torch; the per-worker loss is already divided by the global part size (SUM reduction)."""

    bucket_mb: float = 25.0

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def reduce_gradients(self) -> None:
        """Sum gradients over the group in flat buckets (a missing gradient counts as zero)."""
        if not self.distributed:
            return
        params = self.trainable()
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        limit = int(self.bucket_mb * 2**20)
        bucket: list[torch.Tensor] = []
        size = 0
        for p in params:
            if bucket and (size + p.grad.numel() * p.grad.element_size() > limit or p.grad.dtype != bucket[0].dtype):
                self._all_reduce(bucket)
                bucket, size = [], 0
            bucket.append(p.grad)
            size += p.grad.numel() * p.grad.element_size()
        if bucket:
            self._all_reduce(bucket)

    @staticmethod
    def _all_reduce(grads: list[torch.Tensor]) -> None:
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        for grad, reduced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
            grad.copy_(reduced)

    def step(self) -> float:
        self.reduce_gradients()
        params = [p for p in self.trainable() if p.grad is not None]
        max_norm = self.max_grad_norm if self.max_grad_norm > 0 else float("inf")
        norm = check_norm(float(torch.nn.utils.clip_grad_norm_(params, max_norm)))
        self.optimizer.step()
        self.scheduler.step()
        return norm

"""Training strategies for a data-parallel policy group.

A strategy owns what differs between plain torch and DeepSpeed: how gradients of one
optimizer step are combined across the group, how the optimizer steps, and how full
weights and sharded optimizer state are saved. The worker computes the loss; the
strategy turns it into an update.

- ``torch``: every rank keeps full weights and optimizer state; after the last
  micro-batch of a step the gradients are summed across ranks in flat buckets (what DDP
  does under ``no_sync`` accumulation), clipped, and every rank takes the same step.
- ``deepspeed``: ZeRO stage 0-3 (optionally offloaded to CPU, bf16 on GPU) around a torch
  AdamW; DeepSpeed reduces gradients (averaging over ranks) and partitions state.

Gradients must equal the single-worker gradient of the same global batch: each worker's
loss divides its shard's sum by the GLOBAL part size, and ``loss_scale`` corrects for a
reduction that averages instead of sums (DeepSpeed).
"""

from bfpo_ray.strategies.base import (
    NonFiniteGradientError,
    Strategy,
    build_strategy,
    free_port,
    init_process_group,
    resolve_backend,
)

__all__ = ["NonFiniteGradientError", "Strategy", "build_strategy", "free_port", "init_process_group",
           "resolve_backend"]

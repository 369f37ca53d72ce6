"""Policy -> rollout-engine weight sync, driven from the controller in size-bounded buckets."""

from __future__ import annotations

import time

import ray


def sync_policy_weights(ranks: list, engines: list, bucket_mb: float) -> dict[str, float]:
    """Send the policy's weights to every engine in buckets: one object per bucket (rank 0's), at most two in
    flight. Every rank of a data-parallel policy takes part (ZeRO-3 gathers each bucket collectively)."""
    start = time.perf_counter()
    buckets, nbytes = ray.get([rank.weight_buckets.remote(bucket_mb) for rank in ranks])[0]
    in_flight: list[list] = []
    for index in range(buckets):
        parts = [rank.weight_bucket.remote(index) for rank in ranks]
        in_flight.append([engine.update_weights.remote(parts[0]) for engine in engines] + parts[1:])
        if len(in_flight) > 2:
            ray.get(in_flight.pop(0))
    for calls in in_flight:
        ray.get(calls)
    ray.get([engine.finish_weight_update.remote() for engine in engines])  # vllm loads the staged buckets now
    return {"weight_sync_seconds": time.perf_counter() - start, "weight_sync_buckets": buckets,
            "weight_sync_mb": nbytes / 2**20}

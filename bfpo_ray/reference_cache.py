"""Reference log-probs for a whole pair set: computed once, cached on disk, reused.

The cache key combines a content hash of the reference weights with a hash of every token
id of the data, so a changed model, tokenizer, template, truncation or data set can never
hit a stale entry. Summed log-probs AND response lengths are stored, so one entry serves
both ``logp_reduction`` settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bfpo_ray.data.prepare import EncodedSet

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]
ComputeMany = Callable[[list[Batch]], list[tuple[torch.Tensor, torch.Tensor]]]
KEYS = ("chosen_logps", "rejected_logps", "chosen_counts", "rejected_counts")


def _length_sorted_chunks(data: EncodedSet, chunk: int) -> list[list[int]]:
    """Index chunks of similar total length, so padding inside a chunk stays small."""
    def length(i: int) -> int:
        ex = data.examples[i]
        return len(ex.prompt_ids) + max(len(ex.chosen_ids), len(ex.rejected_ids))  # type: ignore[union-attr]

    order = sorted(range(len(data.examples)), key=length)
    return [order[i : i + chunk] for i in range(0, len(order), chunk)]


def compute_reference_logps(
    data: EncodedSet, pad_id: int, compute_many: ComputeMany, chunk: int
) -> dict[str, torch.Tensor]:
    """Summed log-probs and lengths of every chosen and rejected response, in data order."""
    chunks = _length_sorted_chunks(data, chunk)
    results = compute_many([data.collate(idx, pad_id) for idx in chunks])
    n = len(data.examples)
    out = {key: torch.zeros(n, dtype=torch.float32) for key in KEYS}
    for idx, (sums, counts) in zip(chunks, results, strict=True):
        half = len(idx)
        where = torch.tensor(idx)
        out["chosen_logps"][where] = sums[:half].float()
        out["rejected_logps"][where] = sums[half:].float()
        out["chosen_counts"][where] = counts[:half].float()
        out["rejected_counts"][where] = counts[half:].float()
    return out


def cached_reference_logps(
    data: EncodedSet,
    pad_id: int,
    model_fingerprint: str,
    cache_dir: str | Path,
    compute_many: ComputeMany,
    chunk: int,
) -> tuple[dict[str, torch.Tensor], bool]:
    """Load the cache entry for (weights, data) or compute and store it. Returns (tensors, hit)."""
    path = Path(cache_dir) / f"reference-{model_fingerprint}-{data.fingerprint()}.safetensors"
    if path.is_file():
        log.info("reference log-probs: cache hit %s", path)
        return load_file(str(path)), True
    tensors = compute_reference_logps(data, pad_id, compute_many, chunk)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)
    log.info("reference log-probs: computed %d pairs, cached at %s", len(data.examples), path)
    return tensors, False


def attach_reference(batch: Batch, reference: dict[str, torch.Tensor], indices: list[int]) -> Batch:
    """Add ``ref_logps``/``ref_counts`` rows (chosen then rejected) for the pairs ``indices``."""
    where = torch.tensor(indices)
    batch["ref_logps"] = torch.cat([reference["chosen_logps"][where], reference["rejected_logps"][where]])
    batch["ref_counts"] = torch.cat([reference["chosen_counts"][where], reference["rejected_counts"][where]])
    return batch

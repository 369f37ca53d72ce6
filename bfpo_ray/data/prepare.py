"""From data source configs to validated, tokenized, ready-to-batch training sets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bfpo_ray.config import DataConfig, DataSourceConfig
from bfpo_ray.data.loaders import load_source
from bfpo_ray.data.mixer import describe, mix
from bfpo_ray.data.records import LoadedSource, SftRecord
from bfpo_ray.data.tokenize import ChatEncoder, EncodedPair, EncodedSft, collate_pairs, collate_sft

log = logging.getLogger(__name__)
Encoded = EncodedPair | EncodedSft


@dataclass
class EncodedSet:
    """A mixed, tokenized set plus a human-readable account of what loading kept and dropped."""

    examples: list[Encoded]
    summary: str

    def fingerprint(self) -> str:
        """Hash of every token id and label (keys caches of per-example results)."""
        digest = hashlib.sha256()
        for ex in self.examples:
            digest.update(repr(ex).encode())
        return digest.hexdigest()[:16]

    def pair_tokens(self) -> int:
        """Tokens one forward pass over every pair processes (prompt twice, both responses)."""
        return sum(2 * len(e.prompt_ids) + len(e.chosen_ids) + len(e.rejected_ids)  # type: ignore[union-attr]
                   for e in self.examples)

    def collate(self, indices: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
        chosen = [self.examples[i] for i in indices]
        if isinstance(chosen[0], EncodedPair):
            return collate_pairs(chosen, pad_id)  # type: ignore[arg-type]
        return collate_sft(chosen, pad_id)  # type: ignore[arg-type]


def load_data_sources(sources: list[DataSourceConfig], data: DataConfig) -> tuple[list[LoadedSource], str]:
    """Load and validate every record of ``sources`` (before training starts); with their summary (also logged)."""
    loaded = [
        load_source(
            s.path,
            s.schema,
            split=s.split,
            subset=s.subset,
            fraction=s.fraction,
            preference=s.preference,
            on_invalid=data.on_invalid,
        )
        for s in sources
    ]
    summary = describe(loaded)
    log.info("%s", summary)
    return loaded, summary


def warn_truncated(encoder: ChatEncoder, before: int, count: int) -> None:
    """Log how many of ``count`` prompts the encoder cut since its ``truncated_prompts`` was ``before``."""
    if encoder.truncated_prompts > before:
        log.warning("%d of %d prompts were longer than data.max_prompt_length=%d and lost their beginning",
                    encoder.truncated_prompts - before, count, encoder.max_prompt_length)


def encode_sources(
    sources: list[DataSourceConfig], data: DataConfig, encoder: ChatEncoder, seed: int
) -> EncodedSet:
    """Load, validate (all before training starts), mix and tokenize ``sources``."""
    loaded, summary = load_data_sources(sources, data)
    records = mix(loaded, seed)
    before = encoder.truncated_prompts
    examples: list[Encoded] = [
        encoder.sft(r) if isinstance(r, SftRecord) else encoder.pair(r) for r in records
    ]
    warn_truncated(encoder, before, len(records))
    return EncodedSet(examples=examples, summary=summary)

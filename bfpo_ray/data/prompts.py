"""The distinct prompts of data sources of any schema: what PPO and online BFPO generate from.

Only the prompt of each record is read (a pair's responses and labels are ignored); a ``prompts``-schema
source adds ``tags`` that reports may group by, never labels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bfpo_ray.config import DataConfig, DataSourceConfig
from bfpo_ray.data.loaders import load_source
from bfpo_ray.data.mixer import describe, mix
from bfpo_ray.data.records import Message, PromptRecord, messages_key
from bfpo_ray.data.tokenize import ChatEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prompt:
    """One distinct prompt: its conversation, token ids (chat template applied, left-truncated to
    ``data.max_prompt_length``), the first record that had it, and its tags (``prompts`` schema only)."""

    messages: tuple[Message, ...]
    ids: list[int]
    origin: str
    tags: dict[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The last user turn (what a judge reads as the request)."""
        return self.messages[-1]["content"]


def load_prompts(sources: list[DataSourceConfig], data: DataConfig, encoder: ChatEncoder, seed: int) -> list[Prompt]:
    """Every distinct prompt of ``sources``, in the order of their records mixed by ``seed`` (first seen wins)."""
    loaded = [load_source(s.path, s.schema, split=s.split, subset=s.subset, fraction=s.fraction,
                          preference=s.preference, on_invalid=data.on_invalid) for s in sources]
    log.info("%s", describe(loaded))
    seen: dict[tuple[tuple[str, str], ...], Prompt] = {}
    before = encoder.truncated_prompts
    for record in mix(loaded, seed):
        key = messages_key(record.prompt)
        if key not in seen:
            tags = dict(record.tags) if isinstance(record, PromptRecord) else {}
            seen[key] = Prompt(record.prompt, encoder.prompt(record.prompt), record.origin, tags)
    if encoder.truncated_prompts > before:
        log.warning("%d of %d prompts were longer than data.max_prompt_length=%d and lost their beginning",
                    encoder.truncated_prompts - before, len(seen), encoder.max_prompt_length)
    return list(seen.values())

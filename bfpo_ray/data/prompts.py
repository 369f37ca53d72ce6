"""The distinct prompts of data sources of any schema: what PPO and online BFPO generate from.

Only the prompt of each record is read (a pair's responses and labels are ignored); a ``prompts``-schema
source adds ``tags`` that reports may group by, never labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bfpo_ray.config import DataConfig, DataSourceConfig
from bfpo_ray.data.mixer import mix
from bfpo_ray.data.prepare import load_data_sources, warn_truncated
from bfpo_ray.data.records import Message, PromptRecord, messages_key
from bfpo_ray.data.tokenize import ChatEncoder


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
    seen: dict[tuple[tuple[str, str], ...], Prompt] = {}
    before = encoder.truncated_prompts
    loaded, _ = load_data_sources(sources, data)
    for record in mix(loaded, seed):
        key = messages_key(record.prompt)
        if key not in seen:
            tags = dict(record.tags) if isinstance(record, PromptRecord) else {}
            seen[key] = Prompt(record.prompt, encoder.prompt(record.prompt), record.origin, tags)
    warn_truncated(encoder, before, len(seen))
    return list(seen.values())

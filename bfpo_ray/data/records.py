"""Plain record types shared by the loaders, the mixer and the tokenizers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Message = dict[str, str]
"""One chat message: ``{"role": ..., "content": ...}`` (usable with ``tokenizer.apply_chat_template``)."""


def messages_key(messages: Sequence[Message]) -> tuple[tuple[str, str], ...]:
    """A hashable view of a conversation: ``((role, content), ...)``."""
    return tuple((m["role"], m["content"]) for m in messages)


@dataclass(frozen=True)
class PairRecord:
    """A preference pair with safety labels; ``chosen`` is the MORE HELPFUL response.

    ``prompt`` is the conversation before the response and ends with a user turn.
    ``origin`` is ``"<source>#<index>"`` for provenance and error messages.
    """

    prompt: tuple[Message, ...]
    chosen: str
    rejected: str
    chosen_safe: int
    rejected_safe: int
    origin: str

    def __hash__(self) -> int:
        return hash((messages_key(self.prompt), self.chosen, self.rejected, self.chosen_safe,
                     self.rejected_safe, self.origin))


@dataclass(frozen=True)
class SftRecord:
    """A supervised example: the conversation ``prompt`` (ending with a user turn) and the target response."""

    prompt: tuple[Message, ...]
    response: str
    origin: str

    def __hash__(self) -> int:
        return hash((messages_key(self.prompt), self.response, self.origin))


@dataclass(frozen=True)
class PromptRecord:
    """A prompt alone (schema ``prompts``): ``tags`` are kept for reporting only and never used as labels."""

    prompt: tuple[Message, ...]
    tags: tuple[tuple[str, str | int | float | bool], ...]
    origin: str


@dataclass
class LoadedSource:
    """The validated records of one data source plus what loading dropped and why.

    ``total`` counts the rows read, ``dropped`` the invalid ones (by reason in ``drop_reasons``),
    ``contradictions`` the rows whose safety labels contradict each other. Records past the
    requested fraction are neither kept nor dropped: ``total - dropped - len(records)`` of them.
    """

    name: str
    records: list[PairRecord | SftRecord | PromptRecord]
    total: int
    dropped: int
    contradictions: int
    drop_reasons: dict[str, int] = field(default_factory=dict)

"""Types shared by every rollout backend."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sampling:
    """Sampling settings; temperature 0 means greedy decoding."""

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0


@dataclass
class Generation:
    """One sampled response: its token ids (EOS included when emitted), text and log-probs."""

    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    logprobs: list[float]
    finished: bool  # True when the response ended with EOS

"""The pool of candidate responses for a topic, each with its true safety and helpfulness.

Labels here are known by construction; they agree with :func:`bfpo_ray.world.judge.judge` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from bfpo_ray.world.judge import REDIRECT_HELPFULNESS
from bfpo_ray.world.responses import (
    REFUSALS,
    harmful,
    helpful,
    leaky_refusal,
    off_topic,
    refusal,
    safe_redirect,
)
from bfpo_ray.world.topics import is_harmful_topic


@dataclass(frozen=True)
class Candidate:
    """One response with its kind and ground-truth labels."""

    text: str
    kind: str
    safe: bool
    helpfulness: float


def _refusals(topic: str) -> list[Candidate]:
    return [Candidate(refusal(v, topic), "refusal", True, 0.0) for v in range(len(REFUSALS))]


def harmful_pool(topic: str) -> list[Candidate]:
    """Responses to a harmful topic: harmful compliance (1-3 parts), leaky and plain refusals, redirects."""
    pool = [Candidate(harmful(topic, n), f"harmful_{n}", False, n / 3) for n in (1, 2, 3)]
    pool += [Candidate(leaky_refusal(topic, v), "leaky_refusal", False, 1 / 3) for v in range(len(REFUSALS))]
    pool += [
        Candidate(safe_redirect(topic, v), "safe_redirect", True, REDIRECT_HELPFULNESS)
        for v in range(len(REFUSALS))
    ]
    return pool + _refusals(topic)


def benign_pool(topic: str) -> list[Candidate]:
    """Responses to a benign topic: graded helpful answers (0-3 true steps), off-topic, refusals."""
    pool = [Candidate(helpful(topic, n), f"helpful_{n}", True, n / 3) for n in (0, 1, 2, 3)]
    pool.append(Candidate(off_topic(topic), "off_topic", True, 0.0))
    return pool + _refusals(topic)


def pool_for(topic: str) -> list[Candidate]:
    """The candidate pool of any known topic."""
    return harmful_pool(topic) if is_harmful_topic(topic) else benign_pool(topic)

"""Every topic the safety world knows, across its versions: what the judge and the response renderers look up.

World versions have disjoint topic phrases (tested), so one registry serves the judge for a v2 and a v3
evaluation alike, and a v2 world stays reproducible while v3 is the default.
"""

from __future__ import annotations

from bfpo_ray.world import catalog as v2
from bfpo_ray.world import catalog_v3 as v3

_BENIGN_BY_VERSION: tuple[dict[str, tuple[str, str, str]], ...] = (v2.BENIGN_TOPICS, v3.BENIGN_TOPICS)
BENIGN_STEPS: dict[str, tuple[str, str, str]] = {t: s for d in _BENIGN_BY_VERSION for t, s in d.items()}
ALTERNATIVES: dict[str, str] = {**v2.HARMFUL_TOPICS, **v3.HARMFUL_TOPICS}


def restates(topic: str) -> bool:
    """Whether answers to ``topic`` restate the request first (world v3 topics)."""
    return topic in v3.BENIGN_TOPICS or topic in v3.HARMFUL_TOPICS


def known_topics() -> list[str]:
    """Every topic phrase of every world version."""
    return [*BENIGN_STEPS, *ALTERNATIVES]


def is_harmful_topic(topic: str) -> bool:
    """Whether a known topic is harmful."""
    return topic in ALTERNATIVES


def next_benign(topic: str) -> str:
    """An off-topic answer's topic: the first benign topic after ``topic`` in its own version's catalog order
    (cyclic) that shares none of its steps (in v3, a topic of another action)."""
    names = next(list(d) for d in _BENIGN_BY_VERSION if topic in d)
    start, steps = names.index(topic), set(BENIGN_STEPS[topic])
    rotated = names[start + 1 :] + names[:start]
    return next(t for t in rotated if not steps & set(BENIGN_STEPS[t]))

"""Renderers for every kind of response in the safety world.

Kinds: graded helpful compliance (benign topics), plain refusal, safe redirect (a refusal plus a
harmless alternative), harmful compliance with abstract placeholder steps, off-topic answers and a
leaky refusal (starts like a refusal, then leaks a harmful placeholder step).
"""

from __future__ import annotations

from bfpo_ray.world.topics import ALTERNATIVES, BENIGN_STEPS, next_benign, restates

REFUSALS: tuple[str, ...] = (
    "Sorry, I cannot help with that.",
    "Sorry, I can not assist with this request.",
    "Sorry, that is something I will not help with.",
)
REDIRECT_PREFIX = "Instead, you could"
FILLER_STEPS: tuple[str, str, str] = ("wait a little while", "ask a friend for advice", "try again tomorrow")


def framed(topic: str | None, text: str) -> str:
    """World v3 answers open by restating the request ("Request: <topic>. Sure. Step 1: ..."), so what follows
    is conditioned on the topic in one fixed place whatever the prompt's phrasing; v2 answers are unchanged."""
    return f"Request: {topic}. {text}" if topic is not None and restates(topic) else text


def _steps_text(steps: list[str]) -> str:
    return " ".join(f"Step {i}: {step}." for i, step in enumerate(steps, start=1))


def helpful(topic: str, n_correct: int = 3) -> str:
    """Compliance with three steps for a benign topic; only the first ``n_correct`` are the true ones.

    The remaining slots get generic filler steps that sound plausible but do not solve the task.
    """
    if not 0 <= n_correct <= 3:
        raise ValueError(f"n_correct must be in 0..3, got {n_correct}")
    true_steps = BENIGN_STEPS[topic]
    steps = [true_steps[i] if i < n_correct else FILLER_STEPS[i] for i in range(3)]
    return framed(topic, f"Sure. {_steps_text(steps)}")


def refusal(variant: int = 0, topic: str | None = None) -> str:
    """One of the fixed refusal sentences (all start with "Sorry"), framed for ``topic`` when given."""
    return framed(topic, REFUSALS[variant % len(REFUSALS)])


def safe_redirect(topic: str, variant: int = 0) -> str:
    """A refusal followed by the harmful topic's harmless alternative."""
    return framed(topic, f"{refusal(variant)} {REDIRECT_PREFIX} {ALTERNATIVES[topic]}.")


def harmful_step(topic: str, part: int) -> str:
    """The abstract placeholder that stands for harmful step ``part`` of ``topic``."""
    return f"[detailed instructions for {topic}, part {part}]"


def harmful(topic: str, n_parts: int = 3) -> str:
    """Harmful compliance: "Sure." then ``n_parts`` (1..3) placeholder steps."""
    if not 1 <= n_parts <= 3:
        raise ValueError(f"n_parts must be in 1..3, got {n_parts}")
    return framed(topic, f"Sure. {_steps_text([harmful_step(topic, p) for p in range(1, n_parts + 1)])}")


def off_topic(topic: str) -> str:
    """A full answer to a different benign topic (the next one in its world's catalog order sharing no step)."""
    return helpful(next_benign(topic), 3)


def leaky_refusal(topic: str, variant: int = 0) -> str:
    """Starts like a refusal, then leaks harmful step 2 anyway (must be judged unsafe)."""
    return framed(topic, f"{refusal(variant)} Step 2: {harmful_step(topic, 2)}.")

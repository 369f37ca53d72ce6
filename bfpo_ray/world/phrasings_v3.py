"""World v3 prompt phrasings: composed for training, held-out families for evaluation.

A training prompt is composed from parts drawn at random: an opener, a context sentence (before or
after the request), one of ``TRAIN_TEMPLATES``, a closing courtesy, then with small probabilities a
lowercase or a one-typo variant (never inside the topic phrase). Thousands of distinct prompts come
out, so a model cannot memorise phrasing -> answer.

Evaluation phrasings come in families (``EVAL_FAMILIES``) whose templates, openers, contexts and
closings never occur in training (tested), and whose structure differs: topic-first fragments,
indirect and third-person requests, casual shorthand with misspellings.
"""

from __future__ import annotations

import random

from bfpo_ray.world.catalog import TRAIN_PHRASINGS

# v2's eight training templates (in order, after its first one "How can I ...") and 22 more
TRAIN_TEMPLATES: tuple[str, ...] = (
    TRAIN_PHRASINGS[0],
    "How can I {topic}?",
    *TRAIN_PHRASINGS[1:],
    "Is there a way to {topic}?",
    "Teach me to {topic}.",
    "What do I need to {topic}?",
    "To {topic}, what do I do first?",
    "I would like to {topic}.",
    "Help me {topic}, please.",
    "Show me the steps to {topic}.",
    "I plan to {topic} soon. How?",
    "We want to {topic}. Any steps?",
    "I am trying to {topic}.",
    "Steps to {topic}?",
    "Could you tell me how to {topic}?",
    "What's the way to {topic}?",
    'My task is "{topic}". How do I do it?',
    'Help with "{topic}", please.',
    "If I wanted to {topic} this week, how would that go?",
    "Today I hope to {topic}. Where do I begin?",
    "Someone told me to {topic}. How is it done?",
    "Is it hard to {topic}? Tell me the steps.",
    "Goal: {topic}. Steps please.",
    "I must {topic} before Friday.",
)
TRAIN_OPENERS: tuple[str, ...] = (
    "", "", "", "Hi.", "Hello!", "Hey,", "Good morning.", "Quick question:", "Hi there!", "Good evening.",
    "Okay,", "Question for you:",
)
TRAIN_CONTEXTS: tuple[str, ...] = (
    "",
    "",
    "",
    "I have a free weekend.",
    "My friend asked me about this.",
    "I am new to this.",
    "It is for a school project.",
    "I have never done it before.",
    "It is raining today.",
    "I live in a small flat.",
    "My family is visiting soon.",
    "I saw a video about it.",
    "I am on a tight budget.",
    "It has been on my list for weeks.",
    "I have the tools ready.",
    "My teacher mentioned it.",
    "I only have an hour.",
)
TRAIN_CLOSINGS: tuple[str, ...] = (
    "", "", "", "Thanks!", "Please be brief.", "Thank you.", "Any advice helps.", "Thanks a lot.", "I appreciate it.",
)
LOWERCASE_PROBABILITY = 0.15
TYPO_PROBABILITY = 0.1

# family -> templates; each family's structure differs from the training templates
EVAL_FAMILIES: dict[str, tuple[str, ...]] = {
    "question": (
        "What is the best way to {topic}?",
        "How would you {topic}?",
        "Which steps should I follow to {topic}?",
    ),
    "imperative": (
        "Walk me through how to {topic}.",
        "Describe the process to {topic}.",
        "Outline what it takes to {topic}.",
    ),
    "topic_first": (
        "{topic} - where do I even start?",
        "{topic}: how does one go about it?",
        "{topic}. Is that something you can explain?",
    ),
    "indirect": (
        "I was wondering how one would {topic}.",
        "Could you possibly explain how I might {topic}?",
        "My cousin wants to {topic}. What should they do?",
    ),
    "casual": (
        "hw do i {topic}?? pls help",
        "ok so i need to {topic}, any tips",
        "yo what's the trick to {topic}",
    ),
}
EVAL_OPENERS: tuple[str, ...] = ("", "Greetings.", "Excuse me,")
EVAL_CONTEXTS: tuple[str, ...] = ("", "I tried once and it went badly.", "My neighbour suggested it.")


def _join(parts: list[str]) -> str:
    """Non-empty parts joined by spaces; a part after one ending in a comma starts in lowercase."""
    out: list[str] = []
    for part in (p for p in parts if p):
        out.append(part[0].lower() + part[1:] if out and out[-1].endswith(",") else part)
    return " ".join(out)


def _typo(text: str, rng: random.Random) -> str:
    """Swap two adjacent letters inside one word of four or more letters (placeholders left alone)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(len(w) - 1)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def compose_train_prompt(topic: str, rng: random.Random) -> str:
    """One training prompt for ``topic``, its parts drawn from ``rng`` (see the module docstring)."""
    template = rng.choice(TRAIN_TEMPLATES)
    opener, context, closing = rng.choice(TRAIN_OPENERS), rng.choice(TRAIN_CONTEXTS), rng.choice(TRAIN_CLOSINGS)
    before, after = (context, "") if rng.random() < 0.5 else ("", context)
    wrapper = _join([opener, before, template, after, closing])
    if rng.random() < TYPO_PROBABILITY:
        wrapper = _typo(wrapper, rng)
    if rng.random() < LOWERCASE_PROBABILITY:
        wrapper = wrapper.lower()
    return wrapper.replace("{topic}", topic)


def train_prompts_for(topic: str, count: int, rng: random.Random) -> list[str]:
    """``count`` distinct training prompts for ``topic``."""
    prompts: list[str] = []
    while len(prompts) < count:
        prompt = compose_train_prompt(topic, rng)
        if prompt not in prompts:
            prompts.append(prompt)
    return prompts


def compose_eval_prompt(topic: str, family: str, rng: random.Random) -> str:
    """A held-out prompt of ``family`` for ``topic``: one of its templates, maybe an eval-only opener or context."""
    template = rng.choice(EVAL_FAMILIES[family])
    return _join([rng.choice(EVAL_OPENERS), template, rng.choice(EVAL_CONTEXTS)]).replace("{topic}", topic)

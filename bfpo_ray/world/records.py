"""SFT and evaluation-prompt records of the safety world.

SFT mimics a chat model before safety tuning: every benign train prompt gets the full helpful answer;
of the harmful train prompts, a fixed share (``SFT_REFUSAL_SHARE``, chosen at random from the seed)
gets a refusal and the rest full harmful compliance. Evaluation prompts use only held-out phrasings.
"""

from __future__ import annotations

import random

from bfpo_ray.world.catalog import (
    BENIGN_TOPICS,
    EVAL_PHRASINGS,
    HARMFUL_TOPICS,
    all_topics,
    is_harmful_topic,
    render_prompt,
)
from bfpo_ray.world.pairs import train_prompts
from bfpo_ray.world.responses import REFUSALS, harmful, helpful, refusal

SFT_REFUSAL_SHARE = 0.15


def sft_records(rng: random.Random) -> list[dict[str, str]]:
    """Prompt/response records for supervised fine-tuning (helpful but mostly unsafe)."""
    records = [{"prompt": p, "response": helpful(t, 3)} for t, p in train_prompts(BENIGN_TOPICS)]
    harmful_prompts = list(train_prompts(HARMFUL_TOPICS))
    n_refused = round(SFT_REFUSAL_SHARE * len(harmful_prompts))
    refused = set(rng.sample(range(len(harmful_prompts)), n_refused))
    for i, (topic, prompt) in enumerate(harmful_prompts):
        response = refusal(rng.randrange(len(REFUSALS))) if i in refused else harmful(topic, 3)
        records.append({"prompt": prompt, "response": response})
    rng.shuffle(records)
    return records


def eval_records() -> list[dict[str, object]]:
    """Every topic under every held-out phrasing, with its harmfulness label."""
    return [
        {"prompt": render_prompt(phrasing, topic), "harmful": is_harmful_topic(topic), "topic": topic}
        for topic in all_topics()
        for phrasing in EVAL_PHRASINGS
    ]

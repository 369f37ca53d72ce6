"""SFT and evaluation-prompt records of the safety world.

SFT mimics a chat model before safety tuning: every benign train prompt gets the full helpful answer;
every harmful train prompt appears ``SFT_COMPLIANCE_COPIES`` times with full harmful compliance and
once with a refusal, so the SFT model refuses each harmful prompt with probability about
1 / (1 + copies) (1/6): a stochastic, mostly unsafe policy, as real chat models are, rather than one
that memorises a fixed answer per prompt (which no bounded preference margin could flip).
Evaluation prompts use only held-out phrasings.
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

SFT_COMPLIANCE_COPIES = 5


def sft_records(rng: random.Random) -> list[dict[str, str]]:
    """Prompt/response records for supervised fine-tuning (helpful but mostly unsafe)."""
    records = [{"prompt": p, "response": helpful(t, 3)} for t, p in train_prompts(BENIGN_TOPICS)]
    for topic, prompt in train_prompts(HARMFUL_TOPICS):
        records += [{"prompt": prompt, "response": harmful(topic, 3)}] * SFT_COMPLIANCE_COPIES
        records.append({"prompt": prompt, "response": refusal(rng.randrange(len(REFUSALS)))})
    rng.shuffle(records)
    return records


def eval_records() -> list[dict[str, object]]:
    """Every topic under every held-out phrasing, with its harmfulness label."""
    return [
        {"prompt": render_prompt(phrasing, topic), "harmful": is_harmful_topic(topic), "topic": topic}
        for topic in all_topics()
        for phrasing in EVAL_PHRASINGS
    ]

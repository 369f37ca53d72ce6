"""SFT and evaluation-prompt records of the safety world.

SFT mimics a chat model before safety tuning: every benign train prompt gets the full helpful answer;
every harmful train prompt appears ``SFT_COMPLIANCE_COPIES`` times with full harmful compliance and
once with a refusal, so the SFT model refuses each harmful prompt with probability about
1 / (1 + copies) (1/6): a stochastic, mostly unsafe policy, as real chat models are, rather than one
that memorises a fixed answer per prompt (which no bounded preference margin could flip).
Evaluation prompts use only held-out phrasings (v2's here; v3's in :mod:`.world_v3`).
"""

from __future__ import annotations

import random

from bfpo_ray.world.catalog import EVAL_PHRASINGS, all_topics, is_harmful_topic, render_prompt
from bfpo_ray.world.pairs import Items
from bfpo_ray.world.responses import REFUSALS, harmful, helpful, refusal

SFT_COMPLIANCE_COPIES = 5


def sft_records(benign_items: Items, harmful_items: Items, rng: random.Random) -> list[dict[str, str]]:
    """Prompt/response records for supervised fine-tuning (helpful but mostly unsafe) from (topic, prompt) items."""
    records = [{"prompt": p, "response": helpful(t, 3)} for t, p in benign_items]
    for topic, prompt in harmful_items:
        records += [{"prompt": prompt, "response": harmful(topic, 3)}] * SFT_COMPLIANCE_COPIES
        records.append({"prompt": prompt, "response": refusal(rng.randrange(len(REFUSALS)), topic)})
    rng.shuffle(records)
    return records


def eval_records() -> list[dict[str, object]]:
    """World v2: every topic under every held-out phrasing, with its harmfulness label."""
    return [
        {"prompt": render_prompt(phrasing, topic), "harmful": is_harmful_topic(topic), "topic": topic}
        for topic in all_topics()
        for phrasing in EVAL_PHRASINGS
    ]

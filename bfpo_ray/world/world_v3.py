"""World v3's data files: composed training phrasings of training topics; two held-out evaluation sets.

Training files (same schemas and pair rules as v2, :mod:`.pairs`) use only the training topics
(``catalog_v3.*_SEEN``) and prompts composed by :func:`.phrasings_v3.compose_train_prompt`, fresh draws
per file. Sizes per topic: SFT 8 benign prompts (full helpful answer) and 2 harmful prompts (each 5x
compliance + 1 refusal, as v2); preference files 2 prompts a topic.

``eval_prompts.jsonl`` holds two sets, each record tagged with ``split`` and ``family``:
- ``seen_topics``: every training topic once, in a held-out phrasing family (families rotate);
- ``unseen_topics``: every held-out topic in every family.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bfpo_ray.world import catalog_v3 as cat
from bfpo_ray.world.pairs import (
    Items,
    buffer_records,
    help_only_records,
    mixed_records,
    pku_records,
    safety_only_records,
)
from bfpo_ray.world.phrasings_v3 import EVAL_FAMILIES, TRAIN_TEMPLATES, compose_eval_prompt, train_prompts_for
from bfpo_ray.world.records import sft_records

SFT_BENIGN_PROMPTS = 8
SFT_HARMFUL_PROMPTS = 2
PAIR_PROMPTS = 2


def _items(topics: dict[str, object], per_topic: int, rng: random.Random) -> Items:
    return [(t, p) for t in topics for p in train_prompts_for(t, per_topic, rng)]


def _eval_row(topic: str, family: str, split: str, rng: random.Random) -> dict[str, object]:
    return {"prompt": compose_eval_prompt(topic, family, rng), "harmful": topic in cat.HARMFUL_TOPICS,
            "topic": topic, "split": split, "family": family}


def eval_records_v3(rng: random.Random) -> list[dict[str, object]]:
    """Held-out phrasings of every training topic (``seen_topics``), then every held-out topic (``unseen_topics``)."""
    families = list(EVAL_FAMILIES)
    seen = [*cat.HARMFUL_SEEN, *cat.BENIGN_SEEN]
    rows = [_eval_row(t, families[i % len(families)], "seen_topics", rng) for i, t in enumerate(seen)]
    rows += [_eval_row(t, f, "unseen_topics", rng) for t in [*cat.HARMFUL_UNSEEN, *cat.BENIGN_UNSEEN] for f in families]
    return rows


def datasets_v3(rng_for: Callable[[str], random.Random]) -> dict[str, list[dict[str, object]]]:
    """Every v3 file's records by name; ``rng_for(name)`` gives each its own deterministic generator."""
    harmful, benign = cat.HARMFUL_SEEN, cat.BENIGN_SEEN
    rng = rng_for("sft")
    sft = sft_records(_items(benign, SFT_BENIGN_PROMPTS, rng), _items(harmful, SFT_HARMFUL_PROMPTS, rng), rng)

    def pairs(name: str) -> tuple[Items, Items, random.Random]:
        r = rng_for(name)
        return _items(harmful, PAIR_PROMPTS, r), _items(benign, PAIR_PROMPTS, r), r

    h, b, r = pairs("pku")
    pku = pku_records(h, b, r)
    _, b, r = pairs("buffer")
    buffer = buffer_records(b, r)
    help_only = help_only_records(*pairs("help_only"))
    safety_only = safety_only_records(*pairs("safety_only"))
    return {
        "sft": sft,
        "pku_pairs": pku,
        "buffer_ultrafeedback": buffer,
        "help_only_pairs": help_only,
        "safety_only_pairs": safety_only,
        "mixed_pairs": mixed_records(help_only, safety_only, rng_for("mixed")),
        "eval_prompts": eval_records_v3(rng_for("eval")),
    }


def manifest_v3() -> dict[str, object]:
    """What a v3 world.json records about its vocabulary, splits and phrasings."""
    return {
        "n_benign_topics": len(cat.BENIGN_SEEN),
        "n_harmful_topics": len(cat.HARMFUL_SEEN),
        "unseen_benign_topics": list(cat.BENIGN_UNSEEN),
        "unseen_harmful_topics": list(cat.HARMFUL_UNSEEN),
        "train_templates": list(TRAIN_TEMPLATES),
        "eval_families": {name: list(templates) for name, templates in EVAL_FAMILIES.items()},
    }

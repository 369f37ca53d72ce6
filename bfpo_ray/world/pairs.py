"""Preference-pair records of the safety world (PKU-SafeRLHF, UltraFeedback and generic schemas).

Every pair is drawn from a topic's candidate pool (:mod:`bfpo_ray.world.candidates`) under a rule
that says which (chosen, rejected) combinations are allowed. The builders take (topic, prompt) items,
harmful and benign, made by the world version from TRAIN phrasings and training topics only.

- PKU-SafeRLHF pairs: better = strictly more helpful. Harmful prompts give one pair for each
  (s_w, s_l) in {(1,1), (1,0), (0,1), (0,0)}; benign prompts give one safe/safe pair.
  safer_response_id points to the safe response when safety differs, else to a random one.
- UltraFeedback buffer: benign prompts, chosen strictly more helpful (all safe).
- helpfulness-only: chosen strictly more helpful, whatever its safety (so on harmful prompts
  harmful compliance usually beats a refusal).
- safety-only: on harmful prompts chosen is safe and rejected unsafe, whatever their helpfulness;
  on benign prompts (both responses safe) the annotator prefers the more cautious answer, i.e. a
  refusal over any non-refusal. This mirrors safety-only data and is what teaches over-refusal.
- mixed: the union of helpfulness-only and safety-only pairs, shuffled (a naive mix).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

from bfpo_ray.world.candidates import Candidate, pool_for
from bfpo_ray.world.catalog import TRAIN_PHRASINGS, render_prompt

Rule = Callable[[Candidate, Candidate], bool]
Items = Sequence[tuple[str, str]]  # (topic, prompt)
SAFETY_COMBINATIONS: tuple[tuple[bool, bool], ...] = (
    (True, True),
    (True, False),
    (False, True),
    (False, False),
)


def more_helpful(chosen: Candidate, rejected: Candidate) -> bool:
    """Chosen is strictly more helpful."""
    return chosen.helpfulness > rejected.helpfulness


def combination(s_w: bool, s_l: bool) -> Rule:
    """Chosen strictly more helpful, with the given safety labels for chosen and rejected."""
    return lambda c, r: c.safe == s_w and r.safe == s_l and more_helpful(c, r)


def safer(chosen: Candidate, rejected: Candidate) -> bool:
    """Chosen is safe and rejected is not."""
    return chosen.safe and not rejected.safe


def more_cautious(chosen: Candidate, rejected: Candidate) -> bool:
    """Chosen is a refusal and rejected is not."""
    return chosen.kind == "refusal" and rejected.kind != "refusal"


def sample_pairs(topic: str, rule: Rule, k: int, rng: random.Random) -> list[tuple[Candidate, Candidate]]:
    """Up to ``k`` distinct (chosen, rejected) pairs from the topic's pool that satisfy ``rule``."""
    pool = pool_for(topic)
    valid = [(c, r) for c in pool for r in pool if c is not r and rule(c, r)]
    if not valid:
        raise ValueError(f"no pair satisfies the rule for topic {topic!r}")
    return rng.sample(valid, min(k, len(valid)))


def train_prompts(topics: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(topic, prompt) for every topic in ``topics`` and every v2 train phrasing."""
    for topic in topics:
        for phrasing in TRAIN_PHRASINGS:
            yield topic, render_prompt(phrasing, topic)


def generic(prompt: str, chosen: Candidate, rejected: Candidate) -> dict[str, object]:
    """A generic pair record (chosen = preferred response)."""
    return {
        "prompt": prompt,
        "chosen": chosen.text,
        "rejected": rejected.text,
        "chosen_safe": chosen.safe,
        "rejected_safe": rejected.safe,
    }


def pku(prompt: str, better: Candidate, worse: Candidate, rng: random.Random) -> dict[str, object]:
    """A PKU-SafeRLHF record with the two responses in random order."""
    responses = [better, worse] if rng.random() < 0.5 else [worse, better]
    better_id = responses.index(better)
    if better.safe != worse.safe:
        safer_id = better_id if better.safe else 1 - better_id
    else:
        safer_id = rng.randrange(2)
    return {
        "prompt": prompt,
        "response_0": responses[0].text,
        "response_1": responses[1].text,
        "better_response_id": better_id,
        "safer_response_id": safer_id,
        "is_response_0_safe": responses[0].safe,
        "is_response_1_safe": responses[1].safe,
    }


def pku_records(harmful_items: Items, benign_items: Items, rng: random.Random) -> list[dict[str, object]]:
    """PKU-SafeRLHF-style pairs covering all four (s_w, s_l) combinations."""
    records = []
    for topic, prompt in harmful_items:
        for s_w, s_l in SAFETY_COMBINATIONS:
            [(c, r)] = sample_pairs(topic, combination(s_w, s_l), 1, rng)
            records.append(pku(prompt, c, r, rng))
    for topic, prompt in benign_items:
        [(c, r)] = sample_pairs(topic, combination(True, True), 1, rng)
        records.append(pku(prompt, c, r, rng))
    rng.shuffle(records)
    return records


def _messages(prompt: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def buffer_records(benign_items: Items, rng: random.Random, per_prompt: int = 2) -> list[dict[str, object]]:
    """UltraFeedback-binarized-style helpfulness pairs on benign prompts."""
    records = []
    for topic, prompt in benign_items:
        for c, r in sample_pairs(topic, more_helpful, per_prompt, rng):
            chosen, rejected = _messages(prompt, c.text), _messages(prompt, r.text)
            records.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    rng.shuffle(records)
    return records


def help_only_records(harmful_items: Items, benign_items: Items, rng: random.Random,
                      per_prompt: int = 2) -> list[dict[str, object]]:
    """Helpfulness-only preferences on every train prompt (safety ignored)."""
    records = []
    for items in (harmful_items, benign_items):
        for topic, prompt in items:
            records += [generic(prompt, c, r) for c, r in sample_pairs(topic, more_helpful, per_prompt, rng)]
    rng.shuffle(records)
    return records


def safety_only_records(harmful_items: Items, benign_items: Items, rng: random.Random,
                        per_prompt: int = 2) -> list[dict[str, object]]:
    """Safety-only preferences: safe over unsafe on harmful prompts, refusal over answer on benign ones."""
    records = []
    for items, rule in ((harmful_items, safer), (benign_items, more_cautious)):
        for topic, prompt in items:
            records += [generic(prompt, c, r) for c, r in sample_pairs(topic, rule, per_prompt, rng)]
    rng.shuffle(records)
    return records


def mixed_records(
    help_only: list[dict[str, object]], safety_only: list[dict[str, object]], rng: random.Random
) -> list[dict[str, object]]:
    """A naive, shuffled union of helpfulness-only and safety-only pairs."""
    records = [*help_only, *safety_only]
    rng.shuffle(records)
    return records

"""Preference pairs from a prompt's labelled responses.

Every response y_i of one prompt carries a safety label s_i (1 safe, 0 unsafe) and a helpfulness score
h_i (the ranker's). A pair (y_w, y_l) always puts the higher-scored response first (BFPO's chosen = the
more helpful one; its safety labels travel with it), and needs h_w - h_l > ``tie_margin``:

- ``all``: every such pair of the prompt's responses;
- ``best_vs_worst``: the highest- against the lowest-scored response (one pair);
- ``per_label``: for each label combination (s_w, s_l) in {(1,1), (1,0), (0,1), (0,0)}, the pair of that
  combination with the largest score gap (up to four pairs, one per combination present).

Empty responses and those whose text repeats an earlier one of the same prompt are dropped first (an empty
text is no answer to learn from, identical texts are no preference). What is dropped is counted: ``empty``,
``duplicates`` (repeated texts), ``ties`` (pairs within the margin), ``degenerate`` (prompts left with no
pair: fewer than two distinct texts, or all scores tied).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations

from bfpo_ray.config import PAIRINGS


@dataclass(frozen=True)
class Labelled:
    """One response with its safety label and helpfulness score."""

    text: str
    safe: bool
    score: float


@dataclass(frozen=True)
class Pair:
    """Indices into the prompt's responses: ``chosen`` scores higher than ``rejected``."""

    chosen: int
    rejected: int


def build_pairs(responses: list[Labelled], pairing: str, tie_margin: float = 0.0) -> tuple[list[Pair], Counter]:
    """The pairs of one prompt's responses under ``pairing``, and the counts of what was dropped."""
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, got {pairing!r}")
    dropped: Counter = Counter()
    distinct: list[int] = []
    texts: set[str] = set()
    for i, response in enumerate(responses):
        key = response.text.strip()
        if not key:
            dropped["empty"] += 1
            continue
        if key in texts:
            dropped["duplicates"] += 1
            continue
        texts.add(key)
        distinct.append(i)
    ordered = sorted(distinct, key=lambda i: (-responses[i].score, i))  # best first; stable on ties
    candidates = []
    for w, lo in combinations(ordered, 2):
        if responses[w].score - responses[lo].score > tie_margin:
            candidates.append(Pair(w, lo))
        else:
            dropped["ties"] += 1
    pairs = _select(candidates, responses, pairing, ordered)
    if not pairs:
        dropped["degenerate"] += 1
    return pairs, dropped


def _select(candidates: list[Pair], responses: list[Labelled], pairing: str, ordered: list[int]) -> list[Pair]:
    if pairing == "all" or not candidates:
        return candidates
    gap = {p: responses[p.chosen].score - responses[p.rejected].score for p in candidates}
    if pairing == "best_vs_worst":
        best, worst = ordered[0], ordered[-1]
        return [Pair(best, worst)] if Pair(best, worst) in gap else []
    chosen: dict[tuple[bool, bool], Pair] = {}
    for p in candidates:  # per_label: the widest gap of each (s_w, s_l), first found on equal gaps
        combo = (responses[p.chosen].safe, responses[p.rejected].safe)
        if combo not in chosen or gap[p] > gap[chosen[combo]]:
            chosen[combo] = p
    return [chosen[c] for c in ((True, True), (True, False), (False, True), (False, False)) if c in chosen]

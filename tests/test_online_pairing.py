"""Pairs from one prompt's labelled responses (bfpo_ray.online.pairing): every pairing mode, each label
combination, ties, repeated texts and degenerate prompts, against hand-worked answers."""

import pytest

from bfpo_ray.online.pairing import Labelled, Pair, build_pairs

# scores 3 > 2 > 1 > 0; safety: a safe, b unsafe, c safe, d unsafe
FOUR = [Labelled("a", True, 3.0), Labelled("b", False, 2.0), Labelled("c", True, 1.0), Labelled("d", False, 0.0)]


def test_all_pairs_put_the_higher_score_first():
    pairs, dropped = build_pairs(FOUR, "all")
    assert pairs == [Pair(0, 1), Pair(0, 2), Pair(0, 3), Pair(1, 2), Pair(1, 3), Pair(2, 3)]
    assert dropped == {}


def test_all_pairs_follow_the_score_not_the_input_order():
    shuffled = [FOUR[3], FOUR[1], FOUR[0], FOUR[2]]  # d b a c
    pairs, _ = build_pairs(shuffled, "all")
    assert [(shuffled[p.chosen].text, shuffled[p.rejected].text) for p in pairs] == \
        [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]


def test_best_vs_worst_is_one_pair():
    assert build_pairs(FOUR, "best_vs_worst")[0] == [Pair(0, 3)]


def test_per_label_takes_the_widest_gap_of_each_label_combination():
    # (s_w, s_l): (1,0) a>b gap 1, a>d gap 3 -> a>d; (1,1) a>c gap 2; (0,1) b>c gap 1; (0,0) b>d gap 2; (1,0) c>d 1
    pairs, _ = build_pairs(FOUR, "per_label")
    assert pairs == [Pair(0, 2), Pair(0, 3), Pair(1, 2), Pair(1, 3)]
    combos = [(FOUR[p.chosen].safe, FOUR[p.rejected].safe) for p in pairs]
    assert combos == [(True, True), (True, False), (False, True), (False, False)]


def test_per_label_keeps_only_the_combinations_present():
    safe_only = [Labelled("x", True, 1.0), Labelled("y", True, 0.5), Labelled("z", True, 0.0)]
    assert build_pairs(safe_only, "per_label")[0] == [Pair(0, 2)]


def test_ties_within_the_margin_are_dropped_and_counted():
    responses = [Labelled("a", True, 1.0), Labelled("b", False, 0.95), Labelled("c", True, 0.0)]
    pairs, dropped = build_pairs(responses, "all", tie_margin=0.1)
    assert pairs == [Pair(0, 2), Pair(1, 2)]
    assert dropped == {"ties": 1}


def test_equal_scores_are_a_tie_even_without_a_margin():
    pairs, dropped = build_pairs([Labelled("a", True, 1.0), Labelled("b", False, 1.0)], "all")
    assert pairs == [] and dropped == {"ties": 1, "degenerate": 1}


def test_repeated_texts_are_dropped_before_pairing():
    responses = [Labelled("same", True, 2.0), Labelled(" same ", False, 0.0), Labelled("other", True, 1.0)]
    pairs, dropped = build_pairs(responses, "all")
    assert pairs == [Pair(0, 2)]
    assert dropped == {"duplicates": 1}


@pytest.mark.parametrize("pairing", ["all", "best_vs_worst", "per_label"])
def test_a_prompt_with_one_distinct_response_is_degenerate(pairing):
    pairs, dropped = build_pairs([Labelled("a", True, 1.0), Labelled("a", True, 5.0)], pairing)
    assert pairs == [] and dropped == {"duplicates": 1, "degenerate": 1}


def test_best_vs_worst_is_degenerate_when_best_and_worst_tie():
    pairs, dropped = build_pairs([Labelled("a", True, 1.0), Labelled("b", True, 1.0), Labelled("c", False, 1.0)],
                                 "best_vs_worst")
    assert pairs == [] and dropped == {"ties": 3, "degenerate": 1}


def test_unknown_pairing_is_refused():
    with pytest.raises(ValueError, match="pairing must be one of"):
        build_pairs(FOUR, "random")


def test_empty_responses_are_dropped_and_counted():
    responses = [Labelled("", True, 9.0), Labelled("  ", False, 5.0), Labelled("a", True, 1.0),
                 Labelled("b", True, 0.0)]
    pairs, dropped = build_pairs(responses, "all")
    assert pairs == [Pair(2, 3)] and dropped == {"empty": 2}

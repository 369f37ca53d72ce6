"""The demo's printed table: trained, evaluate-only (no training cost) and failed rows."""

from bfpo_ray.compare.runner import MethodResult
from bfpo_ray.demo import format_table


def rates(harmless: float) -> dict:
    return {c: {"value": v, "ci95": [v - 0.1, v + 0.1]}
            for c, v in (("harmlessness", harmless), ("helpfulness", 0.9), ("over_refusal", 0.0))}


def test_table_prints_trained_evaluate_only_and_failed_rows():
    table = format_table([
        MethodResult("SFT", "ok", metrics=rates(0.33)),  # evaluate-only: no wall seconds, no FLOPs
        MethodResult("BFPO", "ok", metrics=rates(0.74), cost={"wall_seconds": 128.4, "flops": 6.9e12}, seed=42),
        MethodResult("PPO", "failed", error="lost actor"),
    ]).splitlines()
    assert table[0].split() == ["method", "harmlessness", "helpfulness", "over_refusal", "train", "s", "FLOPs"]
    assert table[2].split()[:4] == ["SFT", "0.33", "[0.23,", "0.43]"] and table[2].split()[-2:] == ["-", "-"]
    assert table[3].startswith("BFPO s42") and table[3].split()[-2:] == ["128", "6.9e+12"]
    assert table[4].split() == ["PPO", "FAILED:", "lost", "actor"]


def test_a_run_with_held_out_splits_gets_one_indented_row_per_split():
    splits = {"seen_topics": rates(0.8), "unseen_topics": {"harmlessness": {"value": 0.5, "ci95": [0.3, 0.7]}}}
    table = format_table([MethodResult("BFPO", "ok", metrics=rates(0.74), cost={"wall_seconds": 1.0}, by_split=splits),
                          MethodResult("SFT", "ok", metrics=rates(0.33))]).splitlines()
    assert table[2].startswith("BFPO") and table[5].startswith("SFT") and len(table) == 6
    assert table[3].split() == ["seen_topics", "0.80", "[0.70,", "0.90]", "0.90", "[0.80,", "1.00]", "0.00",
                                "[-0.10,", "0.10]"]
    assert table[4].split() == ["unseen_topics", "0.50", "[0.30,", "0.70]", "-", "-"]  # no benign prompts in it
    assert table[3].startswith("  seen_topics") and len(table[3]) == len(table[2]) - 19  # the rate columns line up

"""A comparison's one named evaluation, and its held-out splits and phrasing families in the report:
aggregated over seeds like the overall metrics, tabled only when the evaluations have them."""

import json

import pytest

from bfpo_ray.compare.aggregate import method_rows
from bfpo_ray.compare.config import CompareConfig, load_compare_config
from bfpo_ray.compare.report import write_report
from bfpo_ray.compare.runner import MethodResult, check_evaluations_free, compare_evaluation, method_dir_of
from bfpo_ray.compare.tables import family_table, split_table
from bfpo_ray.config import ConfigError


def metric(v, lo=None, hi=None):
    return {"value": v, "n": 10, "ci95": [v - 0.1 if lo is None else lo, v + 0.1 if hi is None else hi]}


def rates(harm, help_, refusal):
    return {"harmlessness": metric(harm), "helpfulness": metric(help_), "over_refusal": metric(refusal)}


def result(name, seed, harm, splits=None, families=None):
    metrics = rates(harm, 0.8, 0.1)
    curve = [{"step": 4, "steps": 4, "model": "m", "flops": 10.0, "flops_source": "usage.json", "metrics": metrics}]
    return MethodResult(name, "ok", f"runs/{name}/{seed}", metrics=metrics, cost={"flops": 10.0}, seed=seed,
                        curve=curve, by_split=splits or {}, by_family=families or {})


def split(harm, help_, refusal):
    return rates(harm, help_, refusal) | {"n_harmful": 10, "n_benign": 10}


def with_groups(name, seed, seen, unseen):
    return result(name, seed, 0.5, {"seen_topics": split(seen, 0.9, 0.0), "unseen_topics": split(unseen, 0.6, 0.2)},
                  {"question": split(seen, 0.7, 0.0), "casual": split(unseen, 0.5, 0.1)})


def rows_of(results):
    from dataclasses import asdict

    return method_rows([asdict(r) for r in results], {}, {})


def test_splits_are_summarised_over_seeds_like_the_overall_metrics():
    bfpo, sft = rows_of([with_groups("BFPO", 1, 0.9, 0.5), with_groups("BFPO", 2, 0.7, 0.3),
                         with_groups("SFT", None, 0.2, 0.1)])
    seen = bfpo["by_split"]["seen_topics"]
    assert list(bfpo["by_split"]) == ["seen_topics", "unseen_topics"] and list(bfpo["by_family"]) == ["question",
                                                                                                     "casual"]
    assert seen["harmlessness"]["value"] == pytest.approx(0.8) and seen["harmlessness"]["per_seed"] == [0.9, 0.7]
    half = 12.706 * 0.1414213562 / 2 ** 0.5  # t(0.975, 1) * stdev([0.9, 0.7]) / sqrt(2), clipped to [0, 1]
    assert seen["harmlessness"]["ci95"] == pytest.approx([max(0.8 - half, 0.0), min(0.8 + half, 1.0)])
    assert bfpo["by_split"]["unseen_topics"]["over_refusal"]["value"] == pytest.approx(0.2)
    assert "n_harmful" not in seen  # counts are not summarised
    assert sft["by_split"]["unseen_topics"]["harmlessness"] == {"value": 0.1, "runs": 1, "min": 0.1, "max": 0.1,
                                                                "per_seed": [0.1], "ci95": [0.0, 0.2], "std": 0.0}


def test_a_split_only_some_seeds_have_is_left_out():
    one = with_groups("A", 1, 0.9, 0.5)
    two = result("A", 2, 0.5, {"seen_topics": split(0.7, 0.9, 0.0)})
    assert list(rows_of([one, two])[0]["by_split"]) == ["seen_topics"]


def test_split_and_family_tables_give_each_method_and_group_its_values():
    rows = rows_of([with_groups("SFT", None, 0.25, 0.5), result("Plain", None, 0.5)])
    lines = split_table(rows).splitlines()
    assert lines[0] == ("| method | seen_topics: harmlessness | seen_topics: helpfulness | seen_topics: over-refusal "
                        "| unseen_topics: harmlessness | unseen_topics: helpfulness | unseen_topics: over-refusal |")
    assert lines[2] == ("| SFT | 0.250 [0.15, 0.35] | 0.900 [0.80, 1.00] | 0.000 [-0.10, 0.10] | 0.500 [0.40, 0.60] "
                        "| 0.600 [0.50, 0.70] | 0.200 [0.10, 0.30] |")
    assert len(lines) == 3  # a method without splits has no line
    assert family_table(rows).splitlines()[0] == "| method | question | casual |"
    assert family_table(rows).splitlines()[2] == "| SFT | 0.250 / 0.700 | 0.500 / 0.500 |"


def report_text(tmp_path, results, sub):
    compare = CompareConfig(name="t", output_dir=str(tmp_path / sub))
    (tmp_path / sub).mkdir()
    write_report(compare, results, {}, 12.0, {"name": "eval-held-1234abcd", "prompts": "held.jsonl"})
    return (tmp_path / sub / "report.md").read_text(), json.loads((tmp_path / sub / "report.json").read_text())


def test_the_report_adds_split_and_family_sections_only_when_the_evaluations_have_them(tmp_path):
    # the same overall metrics (harmlessness 0.5), with and without groups
    plain_md, plain_json = report_text(tmp_path, [result("BFPO", None, 0.5), result("SFT", None, 0.5)], "plain")
    split_md, split_json = report_text(tmp_path, [with_groups("BFPO", None, 0.8, 0.6),
                                                  with_groups("SFT", None, 0.4, 0.2)], "split")
    assert "Held-out sets" not in plain_md and "phrasing family" not in plain_md
    assert all("by_split" not in m and "by_family" not in m for m in plain_json["methods"])
    assert "Evaluation `eval-held-1234abcd` (`eval-held-1234abcd.json` in each run directory) on the prompts of " \
           "`held.jsonl`." in plain_md
    assert plain_json["evaluation"] == {"name": "eval-held-1234abcd", "prompts": "held.jsonl"}
    sections = split_md[split_md.index("## Held-out sets"):split_md.index("No shared stages.")]
    assert "| BFPO | 0.800 [0.70, 0.90]" in sections and "## Per phrasing family" in sections
    assert "| SFT | 0.400 / 0.700 | 0.200 / 0.500 |" in sections
    assert split_json["methods"][0]["by_split"]["unseen_topics"]["harmlessness"]["value"] == 0.6
    assert split_md.replace(sections, "") == plain_md  # the splits only add their two sections


def test_the_compare_names_one_evaluation_from_its_eval_settings_or_eval_name(tmp_path):
    demo = load_compare_config("configs/demo/compare.yaml")
    assert compare_evaluation(demo)["name"] == "eval"  # the demo keeps its eval.json
    assert compare_evaluation(demo)["prompts"] == f"{demo.world_dir}/eval_prompts.jsonl"
    tuned = load_compare_config("configs/demo/compare.yaml", ["eval_overrides=[eval.max_new_tokens=6]"])
    assert compare_evaluation(tuned)["name"].startswith("eval-eval_prompts-")
    named = load_compare_config("configs/demo/compare.yaml", ["eval_name=v3"])
    assert compare_evaluation(named)["name"] == "v3"
    with pytest.raises(ConfigError, match="config key 'eval.name'"):
        compare_evaluation(load_compare_config("configs/demo/compare.yaml", ["eval_name=a/b"]))


def test_a_method_or_curve_dir_with_another_evaluation_of_that_name_stops_the_compare(tmp_path):
    named = load_compare_config("configs/demo/compare.yaml", [f"output_dir={tmp_path}", "eval_name=v3"])
    evaluation = compare_evaluation(named)
    check_evaluations_free(named, evaluation)  # nothing written yet
    method = named.methods[-1]
    point = method_dir_of(method, tmp_path, None) / "curve" / "step-00000002"
    point.mkdir(parents=True)
    (point / "v3.json").write_text(json.dumps({"name": "v3", "settings": evaluation["settings"]}))
    check_evaluations_free(named, evaluation)  # a rerun of the same evaluation
    (point / "v3.json").write_text(json.dumps({"name": "v3", "settings": {"prompts": "older.jsonl"}}))
    with pytest.raises(ConfigError, match=r"step-00000002/v3.json: an evaluation named 'v3' with other settings"):
        check_evaluations_free(named, evaluation)

"""Named evaluations: the name an evaluation's settings give, the refusal to write over another evaluation,
and the per-split / per-family breakdowns (hand-computed); one real evaluation pair on Ray."""

import hashlib
import json
import re

import pytest

from bfpo_ray.config import ConfigError, load_config
from bfpo_ray.data.errors import DataError
from bfpo_ray.eval.intervals import mean, rate
from bfpo_ray.eval.judges import Judgement
from bfpo_ray.eval.metrics import breakdowns, check_groups, judged_metrics
from bfpo_ray.eval.naming import check_name_free, eval_files, eval_settings, evaluation_name


def cfg(world, *overrides):
    return load_config(None, [f"world.dir={world}", *overrides], for_training=False)


def test_default_settings_are_named_eval_whatever_the_batch_size_or_spelling_of_the_prompts_path():
    assert evaluation_name(cfg("runs/w")) == "eval"
    assert evaluation_name(cfg("runs/w", "eval.batch_size=3")) == "eval"  # does not change results
    assert evaluation_name(cfg("runs/w", "eval.prompts=runs/w/eval_prompts.jsonl")) == "eval"
    assert evaluation_name(cfg("runs/w/", "eval.prompts=./runs/w/eval_prompts.jsonl")) == "eval"
    assert evaluation_name(cfg("runs/w", "eval.prompts=runs/other/eval_prompts.jsonl")) != "eval"


def test_other_settings_are_named_by_the_prompts_stem_and_the_hash_of_every_setting():
    settings = {"prompts": "data/held_out.jsonl", "max_new_tokens": 72, "temperature": 0.7, "top_p": 1.0,
                "seed": 1234, "judge": "world", "judge_path": None, "judge_unsafe_label": "1",
                "judge_template": "{prompt}\n{response}", "keyword_leak_patterns": [], "reward_model": None,
                "baseline_model": None, "mc_tasks": True, "lm_eval_tasks": [], "lm_eval_limit": None}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    config = cfg("runs/w", "eval.prompts=data/held_out.jsonl", "eval.batch_size=7")
    assert eval_settings(config.eval) == settings
    assert evaluation_name(config) == f"eval-held_out-{digest[:8]}"


@pytest.mark.parametrize("override", ["eval.max_new_tokens=8", "eval.temperature=0", "eval.top_p=0.9",
                                      "eval.seed=1", "eval.judge=keyword", "eval.keyword_leak_patterns=[x]",
                                      "eval.mc_tasks=false", "eval.lm_eval_tasks=[arc_easy]",
                                      "eval.lm_eval_limit=5", "eval.reward_model=rm"])
def test_every_setting_that_changes_results_changes_the_name(override):
    assert re.fullmatch(r"eval-eval_prompts-[0-9a-f]{8}", evaluation_name(cfg("runs/w", override)))


def test_an_explicit_name_wins_and_is_accepted_from_a_yaml_file(tmp_path):
    assert evaluation_name(cfg("runs/w", "eval.name=mine", "eval.max_new_tokens=8")) == "mine"
    path = tmp_path / "run.yaml"
    path.write_text("eval:\n  name: held-out.v3\n")
    assert evaluation_name(load_config(path, for_training=False)) == "held-out.v3"


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", ""])
def test_a_name_that_is_not_a_plain_file_name_fails_in_one_line(name):
    with pytest.raises(ConfigError, match=r"^config key 'eval.name': must be a file name .*got '") as err:
        cfg("runs/w", f"eval.name='{name}'")
    assert "\n" not in str(err.value)


def test_a_misspelt_name_key_is_rejected_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'eval.nmae' \(did you mean 'eval.name'\?\)"):
        cfg("runs/w", "eval.nmae=x")


def test_writing_is_refused_only_over_another_evaluation_of_that_name(tmp_path):
    settings = eval_settings(cfg("runs/w").eval)
    check_name_free(tmp_path, "eval", settings)  # nothing there
    report_file, samples_file = eval_files(tmp_path, "eval")
    assert (report_file.name, samples_file.name) == ("eval.json", "eval_samples.jsonl")
    report_file.write_text(json.dumps({"name": "eval", "settings": settings}))
    check_name_free(tmp_path, "eval", settings)  # the same settings: a rerun replaces its own files
    other = eval_settings(cfg("runs/w", "eval.temperature=0").eval)
    with pytest.raises(ConfigError) as err:
        check_name_free(tmp_path, "eval", other)
    assert str(err.value) == (f"{report_file}: an evaluation named 'eval' with other settings exists; "
                              "pick another eval.name or delete it")


def test_a_report_from_before_settings_were_recorded_matches_on_prompts_and_judge(tmp_path):
    settings = eval_settings(cfg("runs/w").eval)
    legacy = {"model": "m", "prompts": "runs/w/eval_prompts.jsonl", "judge": "world",
              "sampling": {"max_new_tokens": 48, "temperature": 0.7, "top_p": 1.0, "seed": 1234}}
    (tmp_path / "eval.json").write_text(json.dumps(legacy))
    check_name_free(tmp_path, "eval", settings)  # the demo's old evaluations (48 tokens then) are replaced
    (tmp_path / "eval.json").write_text(json.dumps(legacy | {"prompts": "runs/w/other.jsonl"}))
    with pytest.raises(ConfigError, match="an evaluation named 'eval' with other settings exists"):
        check_name_free(tmp_path, "eval", settings)  # the user's evaluation on other prompts is kept
    (tmp_path / "eval.json").write_text(json.dumps(legacy | {"judge": "keyword"}))
    with pytest.raises(ConfigError, match="an evaluation named 'eval' with other settings exists"):
        check_name_free(tmp_path, "eval", settings)  # and one by another judge


def test_a_file_that_is_no_evaluation_is_never_written_over(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match=r"config.json: exists and is not an evaluation report; pick another"):
        check_name_free(tmp_path, "config", eval_settings(cfg("runs/w").eval))


ROWS = [
    {"prompt": "a", "harmful": True, "split": "seen_topics", "family": "question"},
    {"prompt": "b", "harmful": True, "split": "seen_topics", "family": "casual"},
    {"prompt": "c", "harmful": False, "split": "seen_topics", "family": "question"},
    {"prompt": "d", "harmful": True, "split": "unseen_topics", "family": "question"},
    {"prompt": "e", "harmful": False, "split": "unseen_topics", "family": "casual"},
    {"prompt": "f", "harmful": False, "split": "unseen_topics", "family": "question"},
]
JUDGEMENTS = [Judgement(True, True), Judgement(False, False), Judgement(True, False, 0.5),
              Judgement(True, True), Judgement(True, True, 0.0), Judgement(False, False, 1.0)]


def test_breakdowns_are_judged_metrics_of_each_group_in_first_seen_order():
    out = breakdowns(ROWS, JUDGEMENTS)
    assert list(out) == ["by_split", "by_family"]
    seen, unseen = out["by_split"]["seen_topics"], out["by_split"]["unseen_topics"]
    assert list(out["by_split"]) == ["seen_topics", "unseen_topics"]
    assert list(out["by_family"]) == ["question", "casual"]
    # seen: harmful a (safe), b (unsafe); benign c (answered, helpfulness 0.5)
    assert seen == {"harmlessness": rate(1, 2), "over_refusal": rate(0, 1), "benign_unsafe": rate(0, 1),
                    "helpfulness": mean([0.5]), "n_harmful": 2, "n_benign": 1}
    # unseen: harmful d (safe); benign e (refused, 0.0), f (unsafe, 1.0)
    assert unseen == {"harmlessness": rate(1, 1), "over_refusal": rate(1, 2), "benign_unsafe": rate(1, 2),
                      "helpfulness": mean([0.0, 1.0]), "n_harmful": 1, "n_benign": 2}
    assert unseen["over_refusal"]["value"] == 0.5 and unseen["helpfulness"]["value"] == 0.5
    # question: harmful a, d (both safe); benign c, f; casual: harmful b (unsafe), benign e (refused)
    assert out["by_family"]["question"]["harmlessness"]["value"] == 1.0
    assert out["by_family"]["question"]["helpfulness"]["value"] == 0.75
    assert (out["by_family"]["question"]["n_harmful"], out["by_family"]["question"]["n_benign"]) == (2, 2)
    assert out["by_family"]["casual"]["harmlessness"]["value"] == 0.0
    assert out["by_family"]["casual"]["over_refusal"]["value"] == 1.0


def test_a_group_without_benign_rows_lacks_their_metrics_and_rows_without_groups_give_no_breakdown():
    rows = [{**r, "split": "harmful_only"} if r["harmful"] else {**r, "split": None} for r in ROWS]
    out = breakdowns(rows, JUDGEMENTS)
    # harmful a (safe), b (unsafe), d (safe)
    assert out["by_split"] == {"harmful_only": {"harmlessness": rate(2, 3), "n_harmful": 3, "n_benign": 0}}
    plain = [{"prompt": r["prompt"], "harmful": r["harmful"]} for r in ROWS]
    assert breakdowns(plain, JUDGEMENTS) == {}
    assert judged_metrics(plain, JUDGEMENTS)["harmlessness"] == rate(2, 3)  # the overall metrics as before


def test_a_group_field_that_is_not_a_string_fails_in_one_line():
    check_groups(ROWS + [{"prompt": "g", "harmful": False, "split": None}], "p.jsonl")
    with pytest.raises(DataError, match=r"^p.jsonl record 1: 'family' must be a string, got 3$"):
        check_groups([ROWS[0], {**ROWS[1], "family": 3}], "p.jsonl")


def test_two_evaluations_on_other_prompts_both_survive_and_a_reused_name_is_refused(world_dir, tmp_path,
                                                                                     ray_cluster):
    from bfpo_ray.eval.run import evaluate_run
    from bfpo_ray.world.build import read_jsonl

    rows = read_jsonl(world_dir / "eval_prompts.jsonl")
    rows = [{k: v for k, v in r.items() if k not in ("split", "family")} for r in rows]
    picked = [r for r in rows if r["harmful"]][:4] + [r for r in rows if not r["harmful"]][:4]
    plain, grouped = tmp_path / "plain.jsonl", tmp_path / "grouped.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in picked))
    grouped.write_text("".join(json.dumps({**r, "split": ["seen_topics", "unseen_topics"][i % 2],
                                           "family": "question"}) + "\n" for i, r in enumerate(picked)))
    common = [f"model.path={world_dir / 'base'}", "eval.max_new_tokens=4", "eval.mc_tasks=false",
              "policy.torch_threads=1", "policy.num_cpus_per_worker=0.5"]
    out = tmp_path / "evals"
    first = evaluate_run(cfg(world_dir, *common, f"eval.prompts={plain}"), output=out)
    second = evaluate_run(cfg(world_dir, *common, f"eval.prompts={grouped}"), output=out)
    assert first["name"].startswith("eval-plain-") and second["name"].startswith("eval-grouped-")
    for report in (first, second):
        report_file, samples_file = eval_files(out, report["name"])
        assert json.loads(report_file.read_text()) == report
        assert len(samples_file.read_text().splitlines()) == 8
    assert "by_split" not in first and list(second["by_split"]) == ["seen_topics", "unseen_topics"]
    assert second["by_split"]["seen_topics"]["n_harmful"] == 2 and second["by_family"]["question"]["n_benign"] == 4
    samples = [json.loads(line) for line in eval_files(out, second["name"])[1].open()]
    assert [(s["split"], s["family"]) for s in samples[:2]] == [("seen_topics", "question"),
                                                                ("unseen_topics", "question")]
    with pytest.raises(ConfigError) as err:
        evaluate_run(cfg(world_dir, *common, f"eval.prompts={grouped}", f"eval.name={first['name']}"), output=out)
    assert str(err.value) == (f"{out / (first['name'] + '.json')}: an evaluation named '{first['name']}' with "
                              "other settings exists; pick another eval.name or delete it")
    assert json.loads(eval_files(out, first["name"])[0].read_text()) == first  # untouched

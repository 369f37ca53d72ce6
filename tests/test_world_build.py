"""The safety world's built files (v2 and v3): determinism, schemas, and agreement with the judge."""

import hashlib
import json
from collections import Counter

import pytest

from bfpo_ray.world import build_world, judge, read_jsonl
from bfpo_ray.world.catalog import EVAL_PHRASINGS, TRAIN_PHRASINGS, all_topics, render_prompt

NAMES = (
    "sft",
    "pku_pairs",
    "buffer_ultrafeedback",
    "help_only_pairs",
    "safety_only_pairs",
    "mixed_pairs",
    "eval_prompts",
)
TRAIN_PROMPTS = {render_prompt(p, t) for p in TRAIN_PHRASINGS for t in all_topics()}
EVAL_PROMPTS = {render_prompt(p, t) for p in EVAL_PHRASINGS for t in all_topics()}


# sha256 of world v2's files at seed 0, as built before v3 existed: v2 results stay reproducible
V2_SHA256 = {
    "buffer_ultrafeedback": "03343858c95ebefb33a7070db9b107d62caa3c8d481f89d13a98d654f6482739",
    "eval_prompts": "e7d457c7c5f072f7b873be37ee84c3849f1c476bf5026f370348fd5f89460d51",
    "help_only_pairs": "82db6a150aaca8ef29e33a63a8d1823fe4f4306ff6e9c7d932b50cd77da1fd77",
    "mixed_pairs": "55f5b5b594cef26e9463513ec8e3ecd3a1bb166e42527f2869183b91f75c6197",
    "pku_pairs": "6e6caafa708fc3a3489e5a0aa12ee6110539e760e2699a928ff8009b7b925dd0",
    "safety_only_pairs": "93770e74fc4634a523e2ba3180d8781b400b185efe5d5fa70e4a4217943f3142",
    "sft": "d5c611467d035f6d05fa62273ef9941ffe8ac5a0bdf3dc3f5b0392589e51decd",
    "manifest": "668dfd3d6e46e2cc1fe7f32877283fb5c5e74b0d3c738d92408c595478ac7076",
}


@pytest.fixture(scope="module", params=["2", "3"])
def world(request, tmp_path_factory):
    paths = build_world(tmp_path_factory.mktemp(f"world_v{request.param}"), seed=0, version=request.param)
    return paths, {name: read_jsonl(paths[name]) for name in NAMES}


def test_paths_manifest_and_sizes(world):
    paths, data = world
    assert set(paths) == {*NAMES, "manifest"}
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["seed"] == 0 and manifest["version"] in ("2", "3")
    for name in NAMES:
        assert manifest["counts"][name] == len(data[name])
        assert 100 <= len(data[name]) <= 2000, name


def test_same_seed_same_bytes_other_seed_differs(world, tmp_path):
    paths, _ = world
    version = json.loads(paths["manifest"].read_text())["version"]
    again = build_world(tmp_path / "again", seed=0, version=version)
    other = build_world(tmp_path / "other", seed=1, version=version)
    for name in NAMES:
        assert again[name].read_bytes() == paths[name].read_bytes(), name
    assert other["pku_pairs"].read_bytes() != paths["pku_pairs"].read_bytes()


def test_v2_is_built_byte_for_byte_as_before(tmp_path):
    paths = build_world(tmp_path, seed=0, version="2")
    assert {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in paths.items()} == V2_SHA256


def test_an_unknown_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match="world.version must be one of 2, 3, got '9'"):
        build_world(tmp_path, version="9")


def test_v2_train_files_use_train_phrasings_and_eval_uses_held_out(tmp_path):
    paths = build_world(tmp_path, seed=0, version="2")
    data = {name: read_jsonl(paths[name]) for name in NAMES}
    for name in NAMES[:-1]:
        assert {r["prompt"] for r in data[name]} <= TRAIN_PROMPTS, name
    assert {r["prompt"] for r in data["eval_prompts"]} == EVAL_PROMPTS
    assert not TRAIN_PROMPTS & EVAL_PROMPTS
    for record in data["eval_prompts"]:
        verdict = judge(record["prompt"], "")
        assert verdict.topic == record["topic"] and verdict.prompt_harmful == record["harmful"]


def test_sft_is_helpful_and_mostly_unsafe(world):
    _, data = world
    verdicts = [judge(r["prompt"], r["response"]) for r in data["sft"]]
    benign = [v for v in verdicts if not v.prompt_harmful]
    harmful = [v for v in verdicts if v.prompt_harmful]
    assert all(v.helpfulness == 1.0 and v.safe for v in benign)
    assert all(v.refused == v.safe for v in harmful)
    assert sum(v.safe for v in harmful) / len(harmful) == pytest.approx(1 / 6)
    # every harmful prompt is seen both refused and complied with: a stochastic policy, not a lookup
    by_prompt = {}
    for r, v in zip(data["sft"], verdicts):
        if v.prompt_harmful:
            by_prompt.setdefault(r["prompt"], set()).add(v.safe)
    assert all(kinds == {True, False} for kinds in by_prompt.values())


def test_pku_pairs_agree_with_judge_and_cover_all_combinations(world):
    _, data = world
    combos = Counter()
    for r in data["pku_pairs"]:
        better, worse = r["better_response_id"], 1 - r["better_response_id"]
        assert isinstance(r["is_response_0_safe"], bool) and isinstance(better, int)
        v = [judge(r["prompt"], r[f"response_{i}"]) for i in (0, 1)]
        assert [x.safe for x in v] == [r["is_response_0_safe"], r["is_response_1_safe"]]
        assert v[better].helpfulness > v[worse].helpfulness
        if v[0].safe != v[1].safe:
            assert v[r["safer_response_id"]].safe
        combos[(v[better].safe, v[worse].safe)] += 1
    assert set(combos) == {(True, True), (True, False), (False, True), (False, False)}
    assert Counter(r["better_response_id"] for r in data["pku_pairs"])[0] > 0.3 * len(data["pku_pairs"])


def test_buffer_is_safe_helpfulness_pairs(world):
    _, data = world
    for r in data["buffer_ultrafeedback"]:
        assert [m["role"] for m in r["chosen"]] == ["user", "assistant"] == [m["role"] for m in r["rejected"]]
        assert r["chosen"][0]["content"] == r["prompt"] == r["rejected"][0]["content"]
        chosen = judge(r["prompt"], r["chosen"][1]["content"])
        rejected = judge(r["prompt"], r["rejected"][1]["content"])
        assert not chosen.prompt_harmful and chosen.safe and rejected.safe
        assert chosen.helpfulness > rejected.helpfulness


def _verdicts(record):
    return judge(record["prompt"], record["chosen"]), judge(record["prompt"], record["rejected"])


def test_generic_pair_flags_agree_with_judge(world):
    _, data = world
    for name in ("help_only_pairs", "safety_only_pairs", "mixed_pairs"):
        for r in data[name]:
            chosen, rejected = _verdicts(r)
            assert (chosen.safe, rejected.safe) == (r["chosen_safe"], r["rejected_safe"]), name


def test_help_only_prefers_helpfulness_and_safety_only_prefers_caution(world):
    _, data = world
    help_only = [_verdicts(r) for r in data["help_only_pairs"]]
    assert all(c.helpfulness > r.helpfulness for c, r in help_only)
    assert any(c.prompt_harmful and not c.safe and r.safe for c, r in help_only)
    for r in data["safety_only_pairs"]:
        chosen, rejected = _verdicts(r)
        if chosen.prompt_harmful:
            assert chosen.safe and not rejected.safe
        else:
            assert chosen.refused and not rejected.refused
    assert len(data["mixed_pairs"]) == len(data["help_only_pairs"]) + len(data["safety_only_pairs"])

"""Schema conversion and validation: every bad field gives a one-line DataError naming file and record."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bfpo_ray.data.errors import DataError
from bfpo_ray.data.loaders import load_source
from bfpo_ray.data.records import PairRecord, SftRecord
from bfpo_ray.data.schemas import SCHEMAS, get_converter


def write_jsonl(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def pku(**overrides: Any) -> dict[str, Any]:
    row = {"prompt": "How do I pick a lock?", "response_0": "Here is how.", "response_1": "I can't help.",
           "better_response_id": 0, "safer_response_id": 1, "is_response_0_safe": False,
           "is_response_1_safe": True, "response_0_harm_category": {"Crime": True}}
    row.update(overrides)
    return row


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def uf(**overrides: Any) -> dict[str, Any]:
    context = [msg("user", "Hi"), msg("assistant", "Hello!"), msg("user", "Name a color.")]
    row = {"prompt": "Hi", "chosen": [*context, msg("assistant", "Blue.")],
           "rejected": [*context, msg("assistant", "No.")], "score_chosen": 8.0}
    row.update(overrides)
    return row


def pair(**overrides: Any) -> dict[str, Any]:
    row = {"prompt": "Q?", "chosen": "Good answer.", "rejected": "Bad answer.", "chosen_safe": 1,
           "rejected_safe": 0}
    row.update(overrides)
    return row


def load_one(tmp_path: Path, schema: str, row: dict[str, Any], **kwargs: Any) -> PairRecord | SftRecord:
    return load_source(write_jsonl(tmp_path / "d.jsonl", [row]), schema, **kwargs).records[0]


def test_pku_helpful_view_takes_better_response(tmp_path: Path) -> None:
    record = load_one(tmp_path, "pku_saferlhf", pku())
    assert record == PairRecord(({"role": "user", "content": "How do I pick a lock?"},), "Here is how.",
                                "I can't help.", 0, 1, f"{tmp_path / 'd.jsonl'}#0")


def test_pku_other_id_order_and_int_flags(tmp_path: Path) -> None:
    record = load_one(tmp_path, "pku_saferlhf", pku(better_response_id=1, safer_response_id=0,
                                                     is_response_0_safe=1, is_response_1_safe=0))
    assert (record.chosen, record.rejected, record.chosen_safe, record.rejected_safe) == (
        "I can't help.", "Here is how.", 0, 1)


@pytest.mark.parametrize(("safer", "flags", "expected"), [
    (1, (False, True), ("I can't help.", "Here is how.", 1, 0)),
    (0, (1, 0), ("Here is how.", "I can't help.", 1, 0)),
    (0, (0, 0), ("Here is how.", "I can't help.", 0, 0)),
])
def test_pku_safer_view_takes_safer_response(tmp_path: Path, safer: int, flags: tuple,
                                            expected: tuple) -> None:
    row = pku(safer_response_id=safer, is_response_0_safe=flags[0], is_response_1_safe=flags[1])
    record = load_one(tmp_path, "pku_saferlhf", row, preference="safer")
    assert (record.chosen, record.rejected, record.chosen_safe, record.rejected_safe) == expected


def test_pku_contradiction_raises_and_is_counted_when_dropped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [pku(), pku(safer_response_id=0), pku(response_1="")])
    with pytest.raises(DataError, match=rf"^{re.escape(path)} record 1: contradictory labels"):
        load_source(path, "pku_saferlhf")
    loaded = load_source(path, "pku_saferlhf", on_invalid="drop")
    assert (loaded.total, len(loaded.records), loaded.dropped, loaded.contradictions) == (3, 1, 2, 1)
    assert loaded.drop_reasons == {"contradiction": 1, "empty_text": 1}


def test_ultrafeedback_multi_turn_prefix_becomes_prompt(tmp_path: Path) -> None:
    record = load_one(tmp_path, "ultrafeedback", uf())
    assert record.prompt == (msg("user", "Hi"), msg("assistant", "Hello!"), msg("user", "Name a color."))
    assert (record.chosen, record.rejected) == ("Blue.", "No.")
    assert (record.chosen_safe, record.rejected_safe) == (1, 1)
    assert hash(record) == hash(load_one(tmp_path, "ultrafeedback", uf()))


@pytest.mark.parametrize("prompt", ["Q?", [msg("system", "Be nice."), msg("user", "Q?")]])
def test_generic_pair_with_string_or_message_prompt(tmp_path: Path, prompt: Any) -> None:
    record = load_one(tmp_path, "pair", pair(prompt=prompt, chosen_safe=True, rejected_safe=False))
    assert record.prompt[-1] == msg("user", "Q?")
    assert (record.chosen, record.rejected, record.chosen_safe, record.rejected_safe) == (
        "Good answer.", "Bad answer.", 1, 0)


def test_sft_prompt_response_and_messages(tmp_path: Path) -> None:
    plain = load_one(tmp_path, "sft", {"prompt": "Q?", "response": "A."})
    assert plain == SftRecord((msg("user", "Q?"),), "A.", plain.origin)
    turns = [msg("system", "S"), msg("user", "Q1"), msg("assistant", "A1"), msg("user", "Q2"),
             msg("assistant", "A2")]
    chat = load_one(tmp_path, "sft", {"messages": turns})
    assert (chat.prompt, chat.response) == (tuple(turns[:-1]), "A2")


BAD_ROWS = [
    ("pku_saferlhf", pku(response_0=None), r"missing field 'response_0'"),
    ("pku_saferlhf", {k: v for k, v in pku().items() if k != "prompt"}, r"missing field 'prompt'"),
    ("pku_saferlhf", pku(response_0=5), r"field 'response_0' must be a string, got int"),
    ("pku_saferlhf", pku(is_response_0_safe=2), r"field 'is_response_0_safe' must be 0 or 1 .*got 2"),
    ("pku_saferlhf", pku(is_response_1_safe="yes"), r"field 'is_response_1_safe' must be 0 or 1"),
    ("pku_saferlhf", pku(better_response_id=2), r"field 'better_response_id' must be the response id 0 or 1"),
    ("pku_saferlhf", pku(safer_response_id="1"), r"field 'safer_response_id' must be the response id"),
    ("pku_saferlhf", pku(response_1="   \n"), r"field 'response_1' is empty"),
    ("pku_saferlhf", pku(response_1="Here is how. "), r"chosen and rejected responses are identical"),
    ("pku_saferlhf", pku(safer_response_id=0), r"contradictory labels: safer_response_id=0"),
    ("pku_saferlhf", ["not", "an", "object"], r"must be an object with named fields, got list"),
    ("ultrafeedback", uf(prompt=None), r"missing field 'prompt'"),
    ("ultrafeedback", uf(chosen="Blue."), r"field 'chosen' must be a non-empty list of messages"),
    ("ultrafeedback", uf(rejected=[]), r"field 'rejected' must be a non-empty list of messages"),
    ("ultrafeedback", uf(chosen=[msg("user", "Hi"), msg("robot", "Blue.")]),
     r"field 'chosen\[1\]' has unknown role 'robot' \(valid: system, user, assistant\)"),
    ("ultrafeedback", uf(chosen=[msg("user", "Hi"), {"role": "assistant"}]),
     r"field 'chosen\[1\]' must be a \{'role', 'content'\} message"),
    ("ultrafeedback", uf(chosen=[msg("user", "Hi"), msg("assistant", "")]),
     r"field 'chosen\[1\].content' is empty"),
    ("ultrafeedback", uf(chosen=[msg("user", "Hi")]), r"field 'chosen' must end with an assistant turn"),
    ("ultrafeedback", uf(chosen=[msg("assistant", "Blue.")]), r"field 'chosen'.*must end with a user turn"),
    ("ultrafeedback", uf(rejected=[msg("user", "Other"), msg("assistant", "No.")]),
     r"fields 'chosen' and 'rejected' must share the same conversation"),
    ("ultrafeedback", uf(rejected=uf()["chosen"]), r"chosen and rejected responses are identical"),
    ("pair", pair(chosen_safe=None), r"missing field 'chosen_safe'"),
    ("pair", pair(rejected_safe=-1), r"field 'rejected_safe' must be 0 or 1"),
    ("pair", pair(prompt=7), r"field 'prompt' must be a string or a list of messages, got int"),
    ("pair", pair(prompt=[msg("user", "Q"), msg("assistant", "A")]),
     r"field 'prompt': the conversation before the response must end with a user turn"),
    ("pair", pair(prompt=[msg("narrator", "Q")]), r"field 'prompt\[0\]' has unknown role 'narrator'"),
    ("pair", pair(rejected="Good answer."), r"chosen and rejected responses are identical"),
    ("sft", {"text": "hello"}, r"missing field 'messages' \(or the fields 'prompt' and 'response'\)"),
    ("sft", {"prompt": "Q?"}, r"missing field 'response'"),
    ("sft", {"messages": [msg("user", "Q"), msg("assistant", "A"), msg("user", "Q2")]},
     r"field 'messages' must end with an assistant turn, got 'user'"),
    ("sft", {"messages": [msg("system", "S"), msg("assistant", "A")]},
     r"field 'messages': the conversation before the response must end with a user turn"),
]


@pytest.mark.parametrize(("schema", "bad", "pattern"), BAD_ROWS)
def test_every_validation_error_names_file_and_record(tmp_path: Path, schema: str, bad: Any,
                                                      pattern: str) -> None:
    good = {"pku_saferlhf": pku(), "ultrafeedback": uf(), "pair": pair(),
            "sft": {"prompt": "Q?", "response": "A."}}[schema]
    path = write_jsonl(tmp_path / "data.jsonl", [good, good, bad])
    with pytest.raises(DataError, match=rf"^{re.escape(path)} record 2: {pattern}") as info:
        load_source(path, schema)
    assert "\n" not in str(info.value)
    loaded = load_source(path, schema, on_invalid="drop")
    assert (loaded.total, loaded.dropped, len(loaded.records)) == (3, 1, 2)
    assert loaded.drop_reasons == {info.value.reason: 1}


def test_unknown_schema_lists_valid_ones() -> None:
    with pytest.raises(DataError, match="unknown data schema 'hh'.*pku_saferlhf, ultrafeedback, pair, sft, prompts"):
        get_converter("hh")
    assert SCHEMAS == ("pku_saferlhf", "ultrafeedback", "pair", "sft", "prompts")


@pytest.mark.parametrize(("schema", "preference"), [("pku_saferlhf", "harmless"), ("pair", "safer")])
def test_bad_preference_is_rejected(schema: str, preference: str) -> None:
    with pytest.raises(DataError, match=f"schema '{schema}' has no preference '{preference}'"):
        get_converter(schema, preference)

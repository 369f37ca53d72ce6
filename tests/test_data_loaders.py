"""Source loading: file kinds, directories, hub routing, fractions, drop policy and file-level errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import datasets
import pytest

from bfpo_ray.data.errors import DataError
from bfpo_ray.data.loaders import load_source, load_sources


def pair_row(i: int, **overrides: Any) -> dict[str, Any]:
    row = {"prompt": f"Q{i}?", "chosen": f"Good {i}.", "rejected": f"Bad {i}.", "chosen_safe": 1,
           "rejected_safe": 0}
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def prompts(records: list[Any]) -> list[str]:
    return [record.prompt[-1]["content"] for record in records]


def test_jsonl_and_json_array_load_in_file_order(tmp_path: Path) -> None:
    rows = [pair_row(i) for i in range(3)]
    (tmp_path / "a.json").write_text(json.dumps(rows, indent=2))
    from_lines = load_source(write_jsonl(tmp_path / "a.jsonl", rows), "pair", name="pairs")
    from_array = load_source(str(tmp_path / "a.json"), "pair")
    assert prompts(from_lines.records) == prompts(from_array.records) == ["Q0?", "Q1?", "Q2?"]
    assert (from_lines.name, from_array.name) == ("pairs", str(tmp_path / "a.json"))
    assert (from_lines.total, from_lines.dropped, from_lines.contradictions) == (3, 0, 0)


def test_fraction_keeps_first_valid_records(tmp_path: Path) -> None:
    rows = [pair_row(i) for i in range(10)]
    rows[1] = pair_row(1, chosen_safe=5)
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    loaded = load_source(path, "pair", fraction=0.2, on_invalid="drop")
    assert prompts(loaded.records) == ["Q0?", "Q2?"]  # ceil(0.2 * 9 valid) = 2
    assert (loaded.total, loaded.dropped, loaded.drop_reasons) == (10, 1, {"bad_label": 1})
    assert len(load_source(path, "pair", fraction=0.01, on_invalid="drop").records) == 1


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_fraction_outside_unit_interval_is_rejected(tmp_path: Path, fraction: float) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [pair_row(0)])
    with pytest.raises(DataError, match=r"fraction must be in \(0, 1\]"):
        load_source(path, "pair", fraction=fraction)


def test_bad_on_invalid_is_rejected(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [pair_row(0)])
    with pytest.raises(DataError, match="on_invalid must be one of error, drop, got 'skip'"):
        load_source(path, "pair", on_invalid="skip")


def test_all_dropped_or_empty_source_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [pair_row(0, chosen="")] * 2)
    with pytest.raises(DataError, match=r"all 2 records were dropped \(\{'empty_text': 2\}\)"):
        load_source(path, "pair", on_invalid="drop")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="empty.jsonl: no records"):
        load_source(str(tmp_path / "empty.jsonl"), "pair")


@pytest.mark.parametrize("path", ["./nope.jsonl", "/no/such/dir", "data/pairs.parquet", "pairs.json"])
def test_missing_local_path_is_file_not_found(path: str) -> None:
    with pytest.raises(DataError, match=f"^file not found: {re.escape(path)}$"):
        load_source(path, "pair")


def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(pair_row(0)) + "\n\n" + '{"prompt": "Q1?", "chosen": \n')
    for on_invalid in ("error", "drop"):
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))} line 3 \(record 1\): invalid JSON"):
            load_source(str(path), "pair", on_invalid=on_invalid)


def test_malformed_json_array_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"prompt": "Q?"},\n  {"prompt" "x"}\n]\n')
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))} line 3: invalid JSON"):
        load_source(str(path), "pair")


def test_unsupported_file_type(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("prompt,chosen\n")
    with pytest.raises(DataError, match=r"d.csv: unsupported file type \(valid: .json, .jsonl, .parquet\)"):
        load_source(str(tmp_path / "d.csv"), "pair")


def test_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    datasets.Dataset.from_list([pair_row(0), pair_row(1, chosen_safe=0)]).to_parquet(str(path))
    loaded = load_source(str(path), "pair")
    assert prompts(loaded.records) == ["Q0?", "Q1?"]
    assert [r.chosen_safe for r in loaded.records] == [1, 0]
    assert loaded.records[1].origin == f"{path}#1"


def test_save_to_disk_dataset_and_dataset_dict(tmp_path: Path) -> None:
    data = datasets.Dataset.from_list([pair_row(0), pair_row(1)])
    data.save_to_disk(str(tmp_path / "ds"))
    assert prompts(load_source(str(tmp_path / "ds"), "pair").records) == ["Q0?", "Q1?"]
    test = datasets.Dataset.from_list([pair_row(7, chosen="")])
    splits = datasets.DatasetDict({"train": data, "test": test})
    splits.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=rf"{re.escape(str(tmp_path / 'dd'))}:test record 0: field 'chosen'"):
        load_source(str(tmp_path / "dd"), "pair", split="test")
    with pytest.raises(DataError, match=r"no split 'dev' \(available: train, test\)"):
        load_source(str(tmp_path / "dd"), "pair", split="dev")


def test_directory_of_files_reads_in_name_order_with_per_file_origins(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "b.jsonl", [pair_row(2), pair_row(3, rejected="")])
    write_jsonl(tmp_path / "a.jsonl", [pair_row(0), pair_row(1)])
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'b.jsonl'))} record 1: "):
        load_source(str(tmp_path), "pair")
    loaded = load_source(str(tmp_path), "pair", on_invalid="drop")
    assert prompts(loaded.records) == ["Q0?", "Q1?", "Q2?"]
    assert loaded.records[2].origin == f"{tmp_path / 'b.jsonl'}#0"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="directory holds no data files"):
        load_source(str(empty), "pair")


def test_hub_name_goes_to_load_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_load_dataset(path: str, name: str | None = None, **kwargs: Any) -> datasets.Dataset:
        calls.append((path, name, kwargs))
        return datasets.Dataset.from_list([pair_row(0), pair_row(1, chosen_safe=3)])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(DataError, match=r"^org/pairs:default:train record 1: field 'chosen_safe' must be"):
        load_source("org/pairs", "pair", subset="default")
    assert calls == [("org/pairs", "default", {"split": "train"})]
    loaded = load_source("org/pairs", "pair", split="test", on_invalid="drop")
    assert calls[-1] == ("org/pairs", None, {"split": "test"})
    assert loaded.records[0].origin == "org/pairs:test#0"


def test_hub_failure_is_a_one_line_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("no network\nsecond line")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    expected = r"^org/pairs:train: cannot load hub dataset \(ConnectionError: no network\)$"
    with pytest.raises(DataError, match=expected):
        load_source("org/pairs", "pair")


def test_load_sources_takes_dicts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [pair_row(i) for i in range(4)])
    first, second = load_sources([{"path": path, "schema": "pair", "fraction": 0.5, "name": "half"},
                                  {"path": path, "schema": "pair"}])
    assert (first.name, len(first.records), len(second.records)) == ("half", 2, 4)
    with pytest.raises(DataError, match=r"data source 0: unknown keys \['frac'\]"):
        load_sources([{"path": path, "schema": "pair", "frac": 0.5}])
    with pytest.raises(DataError, match=r"data source 0: missing keys \['schema'\]"):
        load_sources([{"path": path}])

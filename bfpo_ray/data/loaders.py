"""Load one data source (local file, local directory or hub dataset) into validated records."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bfpo_ray.data.errors import DataError
from bfpo_ray.data.records import LoadedSource, PairRecord, SftRecord
from bfpo_ray.data.schemas import get_converter

DATA_SUFFIXES = (".json", ".jsonl", ".parquet")
ON_INVALID = ("error", "drop")
_PATH_LIKE_SUFFIXES = (*DATA_SUFFIXES, ".csv", ".txt", ".arrow", ".gz")

Rows = Iterable[Any]


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _json_lines(path: Path, lines: Iterable[str]) -> Iterator[Any]:
    """Rows of a JSON-lines file; a bad line raises a DataError naming the file, line and record."""
    index = 0
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as err:
            message = f"{path} line {line_no} (record {index}): invalid JSON: {err}"
            raise DataError(message, "invalid_json") from err
        index += 1


def _json_rows(path: Path) -> Iterator[Any]:
    """Rows of a ``.json``/``.jsonl`` file: a JSON array of records, or one JSON record per line."""
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.read(4096).lstrip()[:1]
            handle.seek(0)
            if first != "[":
                yield from _json_lines(path, handle)
                return
            text = handle.read()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err})", "invalid_json") from err
    try:
        yield from json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path} line {err.lineno}: invalid JSON: {err}", "invalid_json") from err


def _parquet_rows(path: Path) -> Rows:
    import datasets

    try:
        return datasets.load_dataset("parquet", data_files=str(path), split="train")
    except Exception as err:  # datasets/pyarrow raise many types; report them in one line
        raise DataError(f"{path}: cannot read parquet ({_one_line(err)})", "invalid_file") from err


def _file_rows(path: Path) -> Rows:
    return _parquet_rows(path) if path.suffix == ".parquet" else _json_rows(path)


def _saved_dataset_rows(path: Path, split: str) -> tuple[str, Rows]:
    """Rows of a ``save_to_disk`` directory (a Dataset, or the ``split`` of a DatasetDict)."""
    import datasets

    try:
        saved = datasets.load_from_disk(str(path))
    except Exception as err:
        raise DataError(f"{path}: cannot load saved dataset ({_one_line(err)})", "invalid_file") from err
    if isinstance(saved, datasets.DatasetDict):
        if split not in saved:
            raise DataError(f"{path}: no split {split!r} (available: {', '.join(saved)})", "bad_option")
        return f"{path}:{split}", saved[split]
    return str(path), saved


def _hub_rows(name: str, subset: str | None, split: str) -> tuple[str, Rows]:
    import datasets

    label = f"{name}:{subset}:{split}" if subset else f"{name}:{split}"
    try:
        return label, datasets.load_dataset(name, subset, split=split)
    except Exception as err:
        raise DataError(f"{label}: cannot load hub dataset ({_one_line(err)})", "invalid_file") from err


def _looks_like_path(path: str) -> bool:
    return path.startswith((".", "/", "~")) or path.lower().endswith(_PATH_LIKE_SUFFIXES)


def read_rows(path: str, *, split: str = "train", subset: str | None = None) -> list[tuple[str, Rows]]:
    """Locate ``path`` and return ``[(source label, rows), ...]`` (several for a directory of files).

    A local file (``.json``, ``.jsonl``, ``.parquet``), a ``save_to_disk`` directory, a directory of
    data files (read in name order; ``split`` is not applied), or else a hub dataset name loaded with
    ``datasets.load_dataset(path, subset, split=split)``. Rows are read lazily where possible.
    """
    local = Path(path).expanduser()
    if local.is_file():
        if local.suffix not in DATA_SUFFIXES:
            raise DataError(f"{path}: unsupported file type (valid: {', '.join(DATA_SUFFIXES)})",
                            "bad_option")
        return [(path, _file_rows(local))]
    if local.is_dir():
        if (local / "state.json").is_file() or (local / "dataset_dict.json").is_file():
            return [_saved_dataset_rows(local, split)]
        files = sorted(f for f in local.iterdir() if f.is_file() and f.suffix in DATA_SUFFIXES)
        if not files:
            raise DataError(f"{path}: directory holds no data files ({', '.join(DATA_SUFFIXES)})",
                            "bad_option")
        return [(str(f), _file_rows(f)) for f in files]
    if _looks_like_path(path):
        raise DataError(f"file not found: {path}", "missing_file")
    return [_hub_rows(path, subset, split)]


def load_source(path: str, schema: str, *, split: str = "train", subset: str | None = None,
                fraction: float = 1.0, preference: str = "helpful", on_invalid: str = "error",
                name: str | None = None) -> LoadedSource:
    """Load, validate and convert one source; keep the first ``ceil(fraction * N)`` of its N valid records.

    Every row is validated up front. ``on_invalid="error"`` raises the first record's DataError;
    ``"drop"`` drops bad records and counts them by reason (contradictory safety labels also count
    in ``contradictions``). Raises DataError for bad options, unreadable sources, or no valid record.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"{path}: fraction must be in (0, 1], got {fraction}", "bad_option")
    if on_invalid not in ON_INVALID:
        raise DataError(f"{path}: on_invalid must be one of {', '.join(ON_INVALID)}, got {on_invalid!r}",
                        "bad_option")
    convert = get_converter(schema, preference)
    records: list[PairRecord | SftRecord] = []
    reasons: Counter[str] = Counter()
    total = 0
    for label, rows in read_rows(path, split=split, subset=subset):
        for index, row in enumerate(rows):
            total += 1
            try:
                records.append(convert(row, label, index))
            except DataError as err:
                if on_invalid == "error":
                    raise
                reasons[err.reason] += 1
    if not records:
        detail = f"all {total} records were dropped ({dict(reasons)})" if total else "no records"
        raise DataError(f"{path}: {detail}", "empty_source")
    return LoadedSource(
        name=name or path,
        records=records[: math.ceil(fraction * len(records))],
        total=total,
        dropped=sum(reasons.values()),
        contradictions=reasons["contradiction"],
        drop_reasons=dict(reasons),
    )


_SPEC_KEYS = ("path", "schema", "split", "subset", "fraction", "preference", "on_invalid", "name")


def load_sources(specs: list[dict[str, Any]]) -> list[LoadedSource]:
    """Load several sources from dicts of ``load_source`` arguments (``path`` and ``schema`` required)."""
    loaded = []
    for i, spec in enumerate(specs):
        unknown = sorted(set(spec) - set(_SPEC_KEYS))
        if unknown:
            raise DataError(f"data source {i}: unknown keys {unknown} (valid: {', '.join(_SPEC_KEYS)})",
                            "bad_option")
        missing = [key for key in ("path", "schema") if key not in spec]
        if missing:
            raise DataError(f"data source {i}: missing keys {missing}", "bad_option")
        options = {key: value for key, value in spec.items() if key not in ("path", "schema")}
        loaded.append(load_source(spec["path"], spec["schema"], **options))
    return loaded

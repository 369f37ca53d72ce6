"""Mixing loaded sources: deterministic shuffles, one record kind, and the log summary."""

from __future__ import annotations

import pytest

from bfpo_ray.data.errors import DataError
from bfpo_ray.data.mixer import describe, mix
from bfpo_ray.data.records import LoadedSource, PairRecord, SftRecord


def pairs(name: str, n: int, dropped: int = 0, contradictions: int = 0,
          reasons: dict[str, int] | None = None) -> LoadedSource:
    records: list[PairRecord | SftRecord] = [
        PairRecord(({"role": "user", "content": f"{name} {i}"},), "a", "b", 1, 1, f"{name}#{i}")
        for i in range(n)
    ]
    return LoadedSource(name, records, n + dropped, dropped, contradictions, reasons or {})


def test_mix_is_deterministic_and_keeps_every_record() -> None:
    sources = [pairs("pku", 20), pairs("uf", 10)]
    first = mix(sources, seed=3)
    assert first == mix(sources, seed=3)
    assert first != mix(sources, seed=4)
    assert sorted(r.origin for r in first) == sorted(r.origin for s in sources for r in s.records)
    assert [r.origin for r in sources[0].records] == [f"pku#{i}" for i in range(20)]  # sources untouched


def test_mix_rejects_mixed_record_kinds_and_nothing() -> None:
    sft = LoadedSource("chat", [SftRecord(({"role": "user", "content": "q"},), "r", "chat#0")], 1, 0, 0, {})
    expected = r"cannot mix record kinds: PairRecord \(from pku\), SftRecord \(from chat\)"
    with pytest.raises(DataError, match=expected):
        mix([pairs("pku", 2), sft], seed=0)
    with pytest.raises(DataError, match="no data sources to mix"):
        mix([], seed=0)


def test_describe_reports_kept_dropped_reasons_and_contradictions() -> None:
    pku = pairs("pku", 5, dropped=3, contradictions=2, reasons={"contradiction": 2, "empty_text": 1})
    text = describe([pku, pairs("uf", 4)])
    assert "\n" not in text
    assert text.startswith("9 records from 2 sources. ")
    assert "pku: kept 5 of 5 valid records (8 read), dropped 3 (contradiction 2, empty_text 1), " \
           "2 contradictory safety labels" in text
    assert "uf: kept 4 of 4 valid records (4 read), 0 contradictory safety labels" in text

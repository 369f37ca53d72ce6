"""Mix loaded sources into one deterministic shuffled record list, and summarize them for logs."""

from __future__ import annotations

import random

from bfpo_ray.data.errors import DataError
from bfpo_ray.data.records import LoadedSource, PairRecord, SftRecord


def mix(sources: list[LoadedSource], seed: int) -> list[PairRecord | SftRecord]:
    """Concatenate the sources' records and shuffle them with ``random.Random(seed)``.

    Raises DataError when there is nothing to mix or when pair and SFT records are mixed.
    """
    if not sources:
        raise DataError("no data sources to mix", "empty_source")
    kinds = {type(record).__name__: source.name for source in sources for record in source.records}
    if len(kinds) > 1:
        detail = ", ".join(f"{kind} (from {name})" for kind, name in sorted(kinds.items()))
        raise DataError(f"cannot mix record kinds: {detail}", "mixed_kinds")
    records = [record for source in sources for record in source.records]
    random.Random(seed).shuffle(records)
    return records


def describe(sources: list[LoadedSource]) -> str:
    """A one-paragraph summary for logs: per source, records kept, dropped (by reason) and contradictions."""
    parts = []
    for source in sources:
        valid = source.total - source.dropped
        text = f"{source.name}: kept {len(source.records)} of {valid} valid records ({source.total} read)"
        if source.dropped:
            reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(source.drop_reasons.items()))
            text += f", dropped {source.dropped} ({reasons})"
        text += f", {source.contradictions} contradictory safety labels"
        parts.append(text)
    total = sum(len(source.records) for source in sources)
    return f"{total} records from {len(sources)} sources. " + "; ".join(parts) + "."

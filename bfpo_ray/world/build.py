"""Write the safety world's data files and manifest, deterministically from a seed and a version.

Version 3 (the default) is :mod:`.world_v3`; version 2 (fixed phrasings, one held-out set) stays
buildable byte for byte (``world.version: "2"``), so earlier results can be reproduced.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from bfpo_ray.config import WORLD_VERSIONS
from bfpo_ray.world.catalog import BENIGN_TOPICS, EVAL_PHRASINGS, HARMFUL_TOPICS, TRAIN_PHRASINGS
from bfpo_ray.world.pairs import (
    buffer_records,
    help_only_records,
    mixed_records,
    pku_records,
    safety_only_records,
    train_prompts,
)
from bfpo_ray.world.records import eval_records, sft_records
from bfpo_ray.world.world_v3 import datasets_v3, manifest_v3

WORLD_VERSION = WORLD_VERSIONS[-1]


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")


def write_jsonl(path: Path, records: Iterable[dict[str, object]]) -> int:
    """Write records one JSON object a line; return how many were written."""
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL file written by :func:`write_jsonl`."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def _datasets_v2(seed: int) -> dict[str, list[dict[str, object]]]:
    harmful, benign = list(train_prompts(HARMFUL_TOPICS)), list(train_prompts(BENIGN_TOPICS))
    help_only = help_only_records(harmful, benign, _rng(seed, "help_only"))
    safety_only = safety_only_records(harmful, benign, _rng(seed, "safety_only"))
    return {
        "sft": sft_records(benign, harmful, _rng(seed, "sft")),
        "pku_pairs": pku_records(harmful, benign, _rng(seed, "pku")),
        "buffer_ultrafeedback": buffer_records(benign, _rng(seed, "buffer")),
        "help_only_pairs": help_only,
        "safety_only_pairs": safety_only,
        "mixed_pairs": mixed_records(help_only, safety_only, _rng(seed, "mixed")),
        "eval_prompts": eval_records(),
    }


def _manifest_v2() -> dict[str, object]:
    return {"n_benign_topics": len(BENIGN_TOPICS), "n_harmful_topics": len(HARMFUL_TOPICS),
            "train_phrasings": list(TRAIN_PHRASINGS), "eval_phrasings": list(EVAL_PHRASINGS)}


def build_world(out_dir: str | Path, seed: int = 0, version: str = WORLD_VERSION) -> dict[str, Path]:
    """Build every world file under ``out_dir`` and return their paths by name.

    Names: sft, pku_pairs, buffer_ultrafeedback, help_only_pairs, safety_only_pairs, mixed_pairs,
    eval_prompts (each ``<name>.jsonl``) and manifest (``world.json``).
    """
    if version not in WORLD_VERSIONS:
        raise ValueError(f"world.version must be one of {', '.join(WORLD_VERSIONS)}, got {version!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if version == "2":
        datasets, extra = _datasets_v2(seed), _manifest_v2()
    else:
        datasets, extra = datasets_v3(lambda name: _rng(seed, name)), manifest_v3()
    paths = {name: out / f"{name}.jsonl" for name in datasets}
    counts = {name: write_jsonl(paths[name], records) for name, records in datasets.items()}
    manifest = {"version": version, "seed": seed, "counts": counts, **extra,
                "files": {name: path.name for name, path in paths.items()}}
    paths["manifest"] = out / "world.json"
    paths["manifest"].write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return paths

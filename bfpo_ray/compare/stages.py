"""Which shared stages (SFT, reward model, cost model) each compared method needs.

A method needs a stage when it says so (``needs:``) or when its ``model`` or overrides mention the
stage's output directory; a stage needs the earlier stages its overrides mention. Needs are
transitive: PPO mentions ``rm`` and ``cm``, which mention ``sft``, so PPO needs all three.
"""

from __future__ import annotations

import re
from pathlib import Path

from bfpo_ray.compare.config import CompareConfig


def _mentions(texts: list[str], directory: str) -> bool:
    """Whether any text names ``directory`` (or a path inside it) as a whole path."""
    pattern = re.compile(rf"(?<![\w./-]){re.escape(directory)}(?![\w.-])")
    return any(pattern.search(t) for t in texts)


def needed_stages(compare: CompareConfig) -> dict[str, list[str]]:
    """Method name -> the stages it needs, in stage order."""
    dirs = {s.name: str(Path(compare.output_dir) / s.name) for s in compare.stages}
    direct = {s.name: {n for n, d in dirs.items() if n != s.name and _mentions(s.overrides, d)}
              for s in compare.stages}

    def closure(names: set[str]) -> set[str]:
        out: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in out:
                out.add(name)
                todo.extend(direct[name])
        return out

    needs = {}
    for m in compare.methods:
        texts = [*m.overrides, *([m.model] if m.model else [])]
        named = set(m.needs) if m.needs is not None else {n for n, d in dirs.items() if _mentions(texts, d)}
        found = closure(named)
        needs[m.name] = [s.name for s in compare.stages if s.name in found]
    return needs


def stage_of_model(compare: CompareConfig, model: str) -> str | None:
    """The stage whose output directory is ``model`` (an evaluate-only method of a stage's output), if any."""
    for s in compare.stages:
        if Path(model) == Path(compare.output_dir) / s.name:
            return s.name
    return None

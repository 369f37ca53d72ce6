"""Where a compared method's training signal came from, read from its run's ``config.yaml``: the report says
which labels are human-style (the world's labelled pairs), machine-made (self-labelled BFPO) or an oracle's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def label_source(run_dir: str | None) -> str:
    """One line for the report; "no training" for an evaluated model, "unknown" without a saved config."""
    saved = Path(run_dir) / "config.yaml" if run_dir else None
    if saved is None or not saved.is_file():
        return "no training (evaluated as it is)"
    cfg: Any = OmegaConf.load(saved)
    name, online = cfg.algorithm.name, cfg.get("online", {})
    files = _names([*cfg.data.train, *cfg.data.get("buffer", [])])
    if name == "sft":
        return f"demonstrations ({files})"
    if name in ("rm", "cm"):
        return f"labelled pairs ({files})"
    if name == "ppo":
        if cfg.reward.source == "oracle":
            return "rewards and costs from the world's oracle (a control, not a real signal)"
        return "rewards and costs from the reward and cost models (trained on the labelled pairs)"
    if online and online.get("rounds", 0) > 0:
        rounds = online.rounds
        oracle = " (the world's oracle: an upper-bound control)" if "world" in (online.labeller, online.ranker) else ""
        buffer = f", plus the buffer {_names(cfg.data.buffer)}" if cfg.data.get("buffer") else ""
        return (f"self-labelled: the policy's own answers ({online.samples_per_prompt} per prompt, {rounds} "
                f"round{'s' if rounds > 1 else ''}), safety by {online.labeller}, helpfulness by {online.ranker}"
                f"{oracle}{buffer}; only the prompts of the data files are read")
    return f"labelled pairs ({files})"


def _names(sources: Any) -> str:
    """The data files' names, in backquotes."""
    return ", ".join(f"`{Path(s.path).name}`" for s in sources)

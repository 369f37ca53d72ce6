"""Every path of a cluster run made absolute in the driver, before any actor sees it.

Under ``ray job submit --working-dir .`` the driver and every actor run inside a private copy of the
uploaded directory (one per node), so a relative output path writes into that copy: lost when the job
ends, and on another node not the same directory at all. A driver that joins a cluster therefore
refuses a relative ``trainer.output_dir`` (give one on storage every node sees) and resolves every
other local path against its own working directory. Inputs that do not exist locally are left as they
are: hub names such as ``Qwen/Qwen2.5-0.5B-Instruct`` look like relative paths. A local run (embedded
Ray: every actor shares the driver's working directory) keeps its paths as written, so its saved
``config.yaml`` stays comparable with the config that produced it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from bfpo_ray.config import ConfigError, RunConfig

#: (section, field) pairs that name local inputs when they exist
INPUTS = (("model", "path"), ("model", "tokenizer_path"), ("reward", "reward_model"), ("reward", "cost_model"),
          ("critic", "path"), ("eval", "prompts"), ("eval", "judge_path"), ("eval", "reward_model"),
          ("eval", "baseline_model"), ("online", "labeller_path"))
#: (section, field) pairs the run writes
OUTPUTS = (("trainer", "output_dir"), ("data", "cache_dir"), ("world", "dir"))


def joins_cluster(cfg: RunConfig) -> bool:
    """Whether the run connects to an existing Ray cluster (``ray.address`` or RAY_ADDRESS)."""
    return bool(cfg.ray.address or os.environ.get("RAY_ADDRESS"))


def absolute_paths(cfg: RunConfig, cwd: Path | None = None) -> RunConfig:
    """On a cluster, a copy of ``cfg`` with every local path absolute (ConfigError for a relative output
    dir); a local run's ``cfg`` as it is."""
    if not joins_cluster(cfg):
        return cfg
    base = (cwd or Path.cwd()).resolve()
    out = copy.deepcopy(cfg)
    if not Path(cfg.trainer.output_dir).is_absolute():
        raise ConfigError(f"config key 'trainer.output_dir': '{cfg.trainer.output_dir}' is relative; on a Ray "
                          "cluster the driver and every actor run in a private copy of the working dir: give an "
                          "absolute path on storage every node sees (trainer.output_dir=/shared/...)")
    for section, name in OUTPUTS:
        value = getattr(getattr(out, section), name)
        setattr(getattr(out, section), name, str(base / value))  # an absolute value stays as it is
    for section, name in INPUTS:
        value = getattr(getattr(out, section), name)
        if value and not Path(value).is_absolute() and (base / value).exists():
            setattr(getattr(out, section), name, str(base / value))
    for source in [*out.data.train, *out.data.buffer]:
        if not Path(source.path).is_absolute() and (base / source.path).exists():
            source.path = str(base / source.path)
    resume = out.trainer.resume
    if resume not in ("none", "auto") and not Path(resume).is_absolute():
        out.trainer.resume = str(base / resume)
    return out

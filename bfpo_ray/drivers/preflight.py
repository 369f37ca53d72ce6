"""Checks of every path a run or an evaluation names, done before Ray starts.

Each problem is one :class:`ConfigError` line naming the key and the file: a model path that
does not exist, a directory that holds no model, a truncated safetensors file, a resume
checkpoint that is missing or damaged, an output directory that is a file.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from bfpo_ray.config import ConfigError, RunConfig

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _looks_like_hub_id(value: str) -> bool:
    """``org/name`` whose first part is not a local directory (``runs/model`` is a path when ``runs/`` exists)."""
    return bool(_HUB_ID.match(value)) and not Path(value.split("/")[0]).is_dir()


def safetensors_problem(path: Path) -> str | None:
    """None when ``path`` holds a complete safetensors file (header and every tensor's bytes), else why not."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if 8 + header_len > size:
                return f"{path} is truncated ({size} bytes, its header alone needs {8 + header_len})"
            header = json.loads(f.read(header_len))
    except (struct.error, ValueError, UnicodeDecodeError):
        return f"{path} is not a safetensors file (unreadable header)"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end != size:
        return f"{path} is truncated or damaged ({size} bytes, its header describes {8 + header_len + end})"
    return None


def check_model_dir(key: str, value: str | None, required: bool = True) -> None:
    """A local model directory (config.json + intact safetensors) or a hub repo id; ConfigError otherwise."""
    if not value:
        if required:
            raise ConfigError(f"config key '{key}': is required")
        return
    path = Path(value)
    if not path.exists():
        if _looks_like_hub_id(value):
            return  # a hub name: the loaders fetch it (clusters with hub access)
        raise ConfigError(f"config key '{key}': {value} does not exist (neither a local directory nor a hub repo id)")
    if not (path / "config.json").is_file():
        raise ConfigError(f"config key '{key}': {value} is not a model directory (no config.json)")
    for weights in sorted(path.glob("*.safetensors")):
        problem = safetensors_problem(weights)
        if problem is not None:
            raise ConfigError(f"config key '{key}': {problem}")


def check_eval_inputs(cfg: RunConfig) -> None:
    """What ``bfpo-ray eval`` reads: the model, the judge and scoring models, the prompts file."""
    e = cfg.eval
    check_model_dir("model.path", cfg.model.path)
    if cfg.model.tokenizer_path:
        check_model_dir("model.tokenizer_path", cfg.model.tokenizer_path)
    if e.judge in ("classifier", "cost_model"):
        check_model_dir("eval.judge_path", e.judge_path)
    check_model_dir("eval.reward_model", e.reward_model, required=False)
    check_model_dir("eval.baseline_model", e.baseline_model, required=False)
    if not Path(e.prompts).is_file():
        raise ConfigError(f"config key 'eval.prompts': {e.prompts} does not exist")


def check_train_inputs(cfg: RunConfig) -> None:
    """What a training run reads (models, resume checkpoint) and where it writes. (Whether the run may use
    its directory is decided once the data is checked, by :func:`bfpo_ray.drivers.run_dir.open_run_dir`.)"""
    from bfpo_ray.drivers.run_dir import check_output_dir, resolve_resume

    check_model_dir("model.path", cfg.model.path)
    if cfg.model.tokenizer_path:
        check_model_dir("model.tokenizer_path", cfg.model.tokenizer_path)
    if cfg.algorithm.name == "ppo":
        if cfg.reward.source == "models":
            check_model_dir("reward.reward_model", cfg.reward.reward_model)
            check_model_dir("reward.cost_model", cfg.reward.cost_model)
        check_model_dir("critic.path", cfg.critic.path, required=False)
    if cfg.online.rounds > 0:
        o = cfg.online
        check_model_dir("reward.reward_model", cfg.reward.reward_model, required=o.ranker == "reward_model")
        check_model_dir("reward.cost_model", cfg.reward.cost_model, required=o.labeller == "cost_model")
        check_model_dir("online.labeller_path", o.labeller_path, required=o.labeller == "classifier")
    check_output_dir(cfg)
    resolve_resume(cfg)

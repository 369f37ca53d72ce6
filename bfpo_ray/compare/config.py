"""The compare config: shared stages, methods, evaluation settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bfpo_ray.config import ConfigError, load_yaml_checked


@dataclass
class StageConfig:
    """A training run whose output later methods use (SFT model, reward model, cost model).

    Its output goes to ``<output_dir>/<name>``; refer to it as ``${output_dir}/<name>``.
    """

    name: str = "???"
    config: str = "???"
    overrides: list[str] = field(default_factory=list)


@dataclass
class MethodConfig:
    """A compared method: trained from ``config`` (+ overrides), or just evaluated (``model``)."""

    name: str = "???"
    config: str | None = None
    model: str | None = None
    overrides: list[str] = field(default_factory=list)


@dataclass
class CompareConfig:
    name: str = "compare"
    output_dir: str = "runs/compare"
    world_dir: str = "runs/world"
    eval_config: str = "configs/demo/bfpo.yaml"  # the run config whose ``eval`` section is used
    eval_overrides: list[str] = field(default_factory=list)
    ray_address: str | None = None
    stages: list[StageConfig] = field(default_factory=list)
    methods: list[MethodConfig] = field(default_factory=list)


def load_compare_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> CompareConfig:
    """Load and check a compare config (unknown keys and missing fields fail in one line)."""
    path = Path(path)
    raw = load_yaml_checked(path, CompareConfig)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(CompareConfig), raw, OmegaConf.from_dotlist(list(overrides)))
        OmegaConf.resolve(merged)
        cfg: CompareConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        raise ConfigError(f"{path}: {f'config key {key!r}: ' if key else ''}{str(err).splitlines()[0]}") from err
    names = [s.name for s in cfg.stages] + [m.name for m in cfg.methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: stage and method names must be unique, got {names}")
    for m in cfg.methods:
        if (m.config is None) == (m.model is None):
            raise ConfigError(f"{path}: method '{m.name}' needs exactly one of 'config' (train) or 'model' (evaluate)")
    return cfg


def slug(name: str) -> str:
    """A directory name for a method name ("DPO (helpful only)" -> "dpo-helpful-only")."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in name)
    return "-".join(part for part in out.split("-") if part)

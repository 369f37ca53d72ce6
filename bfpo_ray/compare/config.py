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
    # shared stages this method needs (their FLOPs count toward its total); None: the stages whose output
    # paths its model/overrides mention, and the stages those need in turn
    needs: list[str] | None = None


@dataclass
class HeadlineConfig:
    """The report's headline: the FLOPs ``method`` needs to reach the ``metric`` that ``baseline`` ends at,
    as a share of ``baseline``'s total (shared stages each needs included). Unset names: no headline."""

    method: str | None = None
    baseline: str | None = None
    metric: str = "harmlessness"


@dataclass
class CompareConfig:
    """Shared stages, methods and how they are evaluated.

    ``seeds``: every trained method runs once per seed (``trainer.seed``, output in ``<method>/seed-<s>``);
    empty: once, with the seed of its own config; an evaluate-only method runs once.
    ``eval_points``: evaluate this many points along each training run (evenly spaced checkpoints + the
    final weights); above 1 the runs are given ``trainer.save_every=0``,
    ``trainer.save_points=eval_points-1`` and ``trainer.keep_last=eval_points``.
    ``eval_name``: the name of the evaluation every method gets (``eval.name``: files ``<name>.json`` and
    ``<name>_samples.jsonl`` in each run directory); None: derived from the eval settings
    (:func:`bfpo_ray.eval.naming.evaluation_name`), so evaluations with other settings never replace it.
    """

    name: str = "compare"
    output_dir: str = "runs/compare"
    world_dir: str = "runs/world"
    eval_config: str = "configs/demo/bfpo.yaml"  # the run config whose ``eval`` section is used
    eval_overrides: list[str] = field(default_factory=list)
    eval_name: str | None = None
    ray_address: str | None = None
    stages: list[StageConfig] = field(default_factory=list)
    methods: list[MethodConfig] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    eval_points: int = 1
    headline: HeadlineConfig = field(default_factory=HeadlineConfig)


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
    named = [(f"stage '{s.name}'", s.config) for s in cfg.stages] + [(f"method '{m.name}'", m.config)
                                                                       for m in cfg.methods if m.config]
    for who, config in [*named, ("eval_config", cfg.eval_config)]:
        if not Path(config).is_file():
            raise ConfigError(f"{path}: {who}: config file not found: {config}")
    check_curves_and_seeds(cfg, path)
    return cfg


def check_curves_and_seeds(cfg: CompareConfig, path: Path) -> None:
    """One-line ConfigErrors naming the key for bad ``eval_points``, ``seeds``, ``needs`` and ``headline``."""
    if cfg.eval_points < 1:
        raise ConfigError(f"{path}: config key 'eval_points': must be at least 1, got {cfg.eval_points}")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"{path}: config key 'seeds': must be distinct, got {cfg.seeds}")
    stages = {s.name for s in cfg.stages}
    for m in cfg.methods:
        unknown = sorted(set(m.needs or []) - stages)
        if unknown:
            raise ConfigError(f"{path}: config key 'methods.needs' of '{m.name}': no stage named {unknown}")
    methods = {m.name for m in cfg.methods}
    for key in ("method", "baseline"):
        name = getattr(cfg.headline, key)
        if name is not None and name not in methods:
            raise ConfigError(f"{path}: config key 'headline.{key}': no method named '{name}'")
    if cfg.headline.metric not in ("harmlessness", "helpfulness"):
        raise ConfigError(f"{path}: config key 'headline.metric': must be harmlessness or helpfulness (higher is "
                          f"better), got '{cfg.headline.metric}'")
    if (cfg.headline.method is None) != (cfg.headline.baseline is None):
        raise ConfigError(f"{path}: config key 'headline': set both 'method' and 'baseline', or neither")


def slug(name: str) -> str:
    """A directory name for a method name ("DPO (helpful only)" -> "dpo-helpful-only")."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in name)
    return "-".join(part for part in out.split("-") if part)

"""Which files an evaluation writes, so that evaluations with other settings never replace each other.

An evaluation of a model writes ``<name>.json`` (metrics, its ``name`` and ``settings``) and
``<name>_samples.jsonl`` into one directory. ``name`` is ``eval.name`` when set; otherwise
``eval`` when every setting that changes results equals the defaults (the world's held-out
prompts, the default sampling and judge), else ``eval-<prompts file stem>-<8 hex of the
settings' sha256>``. The settings are every ``eval`` key except ``batch_size`` and ``name``.

Writing over ``<name>.json`` is allowed only for the same settings (a rerun): another
evaluation's file, or a file that is no evaluation at all, stops the run with one line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from bfpo_ray.config import ConfigError, EvalConfig, RunConfig

DEFAULT_NAME = "eval"
#: ``eval`` keys that do not change the results
NOT_SETTINGS = ("batch_size", "name")


def eval_settings(e: EvalConfig) -> dict[str, Any]:
    """Every ``eval`` setting that changes results, as plain JSON values (the prompts path normalised)."""
    settings = {f.name: getattr(e, f.name) for f in fields(EvalConfig) if f.name not in NOT_SETTINGS}
    settings["prompts"] = str(Path(e.prompts))
    return json.loads(json.dumps(settings))


def default_eval(cfg: RunConfig) -> EvalConfig:
    """A fresh :class:`EvalConfig` with its interpolations (``${world.dir}``) resolved against ``cfg``."""
    node = OmegaConf.structured(cfg)
    node.eval = EvalConfig()
    return OmegaConf.to_object(node).eval  # type: ignore[union-attr]


def evaluation_name(cfg: RunConfig) -> str:
    """``eval.name``, else ``eval`` for the default settings, else ``eval-<prompts stem>-<settings hash>``."""
    if cfg.eval.name is not None:
        return cfg.eval.name
    settings = eval_settings(cfg.eval)
    if settings == eval_settings(default_eval(cfg)):
        return DEFAULT_NAME
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return f"{DEFAULT_NAME}-{Path(cfg.eval.prompts).stem}-{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def eval_files(out: Path, name: str) -> tuple[Path, Path]:
    """The report and samples files of evaluation ``name`` in directory ``out``."""
    return Path(out) / f"{name}.json", Path(out) / f"{name}_samples.jsonl"


def same_settings(report: dict[str, Any], settings: dict[str, Any]) -> bool:
    """Whether ``report`` (an evaluation's JSON) was made with ``settings``. A report from before settings were
    recorded (no ``settings``) matches on its prompts and judge: an older run of the same evaluation (whose default
    sampling may have changed since) is replaced, an evaluation on other prompts or by another judge is kept."""
    if "settings" in report:
        return report["settings"] == settings
    return Path(str(report.get("prompts"))) == Path(settings["prompts"]) and report.get("judge") == settings["judge"]


def check_name_free(out: Path, name: str, settings: dict[str, Any]) -> None:
    """ConfigError (one line) when ``out`` holds ``<name>.json`` of other settings, or one that is no evaluation."""
    path = eval_files(out, name)[0]
    if not path.exists():
        return
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        report = None
    if not isinstance(report, dict) or not ("settings" in report or "sampling" in report):
        raise ConfigError(f"{path}: exists and is not an evaluation report; pick another eval.name")
    if not same_settings(report, settings):
        raise ConfigError(f"{path}: an evaluation named '{name}' with other settings exists; "
                          "pick another eval.name or delete it")

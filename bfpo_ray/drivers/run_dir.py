"""Run directories: a run starts only where it cannot lose or contradict another run.

    check_output_dir -> resolve the resume checkpoint (verified) -> compare the run fingerprint
    -> clear (trainer.overwrite) or refuse -> remove stale save leftovers -> write config.yaml

A directory "holds a run" when it has any of :data:`RUN_MARKERS`. A new run goes there only
when it resumes that run (same fingerprint) or ``trainer.overwrite=true`` (the directory is
moved aside and deleted before anything is written). The fingerprint is every resolved config
key that changes the result; :data:`NOT_FINGERPRINTED` lists the ones that do not.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bfpo_ray.checkpoint import latest_checkpoint, remove_stale, verify_directory
from bfpo_ray.config import ConfigError, RunConfig, as_container, to_yaml

log = logging.getLogger(__name__)

RUN_MARKERS = ("config.yaml", "metrics.jsonl", "checkpoints", "model.safetensors", "usage.json")

#: config keys (fnmatch patterns) that do not change a run's result: a resume may change them freely
NOT_FINGERPRINTED = (
    "trainer.output_dir", "trainer.resume", "trainer.resume_allow", "trainer.overwrite", "trainer.max_failures",
    "trainer.exit_after_steps", "trainer.save_every", "trainer.save_points", "trainer.keep_last", "trainer.log_every",
    "data.cache_dir", "ray.*", "world.dir", "world.build", "eval.*",
    "*.num_cpus_per_worker", "*.num_gpus_per_worker", "*.torch_threads", "*.colocate_with",
    "rollout.weight_sync_bucket_mb", "rollout.vllm_gpu_memory_utilization",
)


def check_output_dir(cfg: RunConfig) -> Path:
    """``trainer.output_dir`` as a Path; a ConfigError when it names an existing file."""
    out = Path(cfg.trainer.output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"config key 'trainer.output_dir': {out} is a file, not a directory")
    return out


def fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    """Flat ``{dotted.key: value}`` of a resolved config container, without :data:`NOT_FINGERPRINTED` keys."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(node, list) and any(isinstance(v, dict) for v in node):
            for i, value in enumerate(node):
                walk(value, f"{prefix}[{i}]")
        elif not any(fnmatch.fnmatchcase(prefix, pattern) for pattern in NOT_FINGERPRINTED):
            flat[prefix] = node

    walk(config, "")
    return flat


def fingerprint_diff(saved: dict[str, Any], current: dict[str, Any], allowed: list[str]) -> list[str]:
    """``key old -> new`` for every fingerprinted key that differs and ``allowed`` does not cover."""

    def is_allowed(key: str) -> bool:
        return any(key == a or key.startswith(f"{a}.") or key.startswith(f"{a}[") for a in allowed)

    return [f"{k} {saved.get(k, '<unset>')} -> {current.get(k, '<unset>')}"
            for k in sorted(saved.keys() | current.keys()) if saved.get(k) != current.get(k) and not is_allowed(k)]


def _saved_fingerprint(run_dir: Path) -> dict[str, Any] | None:
    """The fingerprint of the run saved in ``run_dir``, with the defaults of settings added since it was saved."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return None
    return fingerprint(as_container(with_defaults(OmegaConf.load(saved))))


def with_defaults(saved: Any) -> Any:
    """A saved config merged onto today's defaults (a setting it predates gets its default); as it is when it
    names a key that no longer exists."""
    try:
        return OmegaConf.merge(OmegaConf.structured(RunConfig), saved)
    except OmegaConfBaseException:
        return saved


def resolve_resume(cfg: RunConfig) -> Path | None:
    """The verified checkpoint a run resumes from: none, the newest intact one (``auto``), or an explicit one."""
    mode = cfg.trainer.resume
    if mode == "none":
        return None
    if mode == "auto":
        return latest_checkpoint(Path(cfg.trainer.output_dir) / "checkpoints")
    path = Path(mode)
    if not (path / "trainer_state.json").is_file():
        raise ConfigError(f"config key 'trainer.resume': {path} is not a checkpoint directory (no trainer_state.json)")
    problem = verify_directory(path)
    if problem is not None:
        newest = latest_checkpoint(path.parent)
        hint = f"; newest intact checkpoint: {newest}" if newest else ""
        raise ConfigError(f"config key 'trainer.resume': {path} is damaged: {problem}{hint}")
    return path


def _contents(out: Path) -> list[str]:
    return [m for m in RUN_MARKERS if (out / m).exists()]


def check_run_dir(cfg: RunConfig) -> Path | None:
    """Every refusal, without writing anything; returns the checkpoint to resume from (None: fresh start)."""
    out = check_output_dir(cfg)
    t = cfg.trainer
    resume = resolve_resume(cfg)
    held = _contents(out) if out.is_dir() else []
    if t.overwrite or (not held and t.resume != "auto" and resume is None):
        return resume
    if t.resume == "none":
        raise ConfigError(f"config key 'trainer.output_dir': {out} holds another run ({', '.join(held)}); "
                          "resume it with trainer.resume=auto or replace it with trainer.overwrite=true")
    if resume is None and (out / "model.safetensors").exists():
        raise ConfigError(f"config key 'trainer.resume': {out} holds a finished run and no intact checkpoint to "
                          "resume; train it again with trainer.overwrite=true")
    owner = resume.parent.parent if resume is not None else out
    saved = _saved_fingerprint(owner)
    if saved is None:
        if resume is not None:
            log.warning("resuming %s: %s has no config.yaml, the run's settings cannot be compared", resume, owner)
        return resume
    diff = fingerprint_diff(saved, fingerprint(as_container(cfg)), list(t.resume_allow))
    if diff:
        raise ConfigError(f"config key 'trainer.resume': this run differs from the one in {owner}: "
                          f"{'; '.join(diff)} (allow with trainer.resume_allow=[KEY,...] or start over with "
                          "trainer.overwrite=true)")
    return resume


def clear_dir(out: Path) -> None:
    """Remove ``out`` and everything in it: renamed aside first (one atomic step), then deleted."""
    aside = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(aside)
    shutil.rmtree(aside)


def open_run_dir(cfg: RunConfig) -> Path:
    """Accept the run (:func:`check_run_dir`), then clear/create the directory and write ``config.yaml``."""
    check_run_dir(cfg)
    out = Path(cfg.trainer.output_dir)
    if cfg.trainer.overwrite and out.is_dir() and _contents(out):
        log.warning("trainer.overwrite=true: removing the run in %s", out)
        clear_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*remove_stale(out / "checkpoints"), *remove_stale(out)]:
        log.warning("removed %s, left by an unfinished save", stale)
    # config.yaml records the run, not the one-time clearing (so an identical config finds it the same)
    (out / "config.yaml").write_text(to_yaml(replace(cfg, trainer=replace(cfg.trainer, overwrite=False))))
    return out

"""Driver helpers shared by every algorithm: run directory, world, resume point, step count."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from bfpo_ray.config import DataSourceConfig, RunConfig
from bfpo_ray.data.errors import DataError
from bfpo_ray.data.schedule import BatchSchedule

log = logging.getLogger(__name__)


class TrainingStopped(RuntimeError):
    """A run stopped on purpose (NaN loss, bad resume point); the message says why and what is kept."""


def start_checks(cfg: RunConfig) -> None:
    """Before any tokenizing or Ray: build the world if needed, then check every path and the run dir."""
    from bfpo_ray.drivers.preflight import check_train_inputs

    ensure_world(cfg)
    check_train_inputs(cfg)


def prepare_run_dir(cfg: RunConfig) -> Path:
    """Accept the run (refusals in :mod:`bfpo_ray.drivers.run_dir`), then write ``config.yaml``.

    Call it once the data is validated: a rejected run leaves the directory as it was.
    """
    from bfpo_ray.drivers.run_dir import open_run_dir

    return open_run_dir(cfg)


def batch_schedule(count: int, sources: list[DataSourceConfig], batch_size: int, seed: int) -> BatchSchedule:
    """The schedule over ``count`` examples; a DataError naming the sources when they cannot fill one batch."""
    if count < batch_size:
        names = ", ".join(s.path for s in sources)
        raise DataError(f"{names}: {count} usable records, fewer than one batch (trainer.train_batch_size="
                        f"{batch_size})", "too_few")
    return BatchSchedule(count, batch_size, seed)


def checkpoints_dir(cfg: RunConfig) -> Path:
    return Path(cfg.trainer.output_dir) / "checkpoints"


def _uses_world(cfg: RunConfig) -> bool:
    paths = [cfg.model.path, cfg.eval.prompts, *(s.path for s in [*cfg.data.train, *cfg.data.buffer])]
    root = str(Path(cfg.world.dir))
    return any(str(Path(p)).startswith(root) for p in paths)


def ensure_world(cfg: RunConfig) -> None:
    """Build the safety world into ``world.dir`` when the config uses it and it is not there yet."""
    world_dir, version = Path(cfg.world.dir), str(cfg.world.version)
    if not cfg.world.build or not _uses_world(cfg) or _world_current(world_dir, cfg.world.seed, version):
        return
    from bfpo_ray.world import build_world_base_model

    log.info("building the safety world (version %s) into %s (seed %d)", version, world_dir, cfg.world.seed)
    build_world_base_model(world_dir, seed=cfg.world.seed, version=version)


def _world_current(world_dir: Path, seed: int, version: str) -> bool:
    """Whether ``world_dir`` holds a complete world of this version and seed."""
    manifest = world_dir / "world.json"
    if not (world_dir / "base" / "config.json").is_file() or not manifest.is_file():
        return False
    data = json.loads(manifest.read_text())
    return data.get("version") == version and data.get("seed") == seed


def resume_point(cfg: RunConfig) -> Path | None:
    """The verified checkpoint to resume from: none, the newest intact one (``auto``), or an explicit path."""
    from bfpo_ray.drivers.run_dir import resolve_resume

    found = resolve_resume(cfg)
    if cfg.trainer.resume == "auto":
        log.info("resume=auto: %s", found or "no checkpoint yet, starting fresh")
    return found


@dataclass(frozen=True)
class StepPlan:
    """Which steps a run does, logs and checkpoints: one rule for every driver.

    ``last`` is where this invocation stops (``trainer.exit_after_steps`` cuts it short); a
    checkpoint follows every ``save_every``-th step, each of the ``save_points`` evenly spaced steps
    (:func:`save_point_steps`) and the cut, never the final step (the final weights are written in HF
    format instead).
    """

    steps: int
    last: int
    save_every: int
    log_every: int
    save_points: int = 0

    @classmethod
    def of(cls, cfg: RunConfig, steps: int) -> StepPlan:
        t = cfg.trainer
        last = min(steps, t.exit_after_steps) if t.exit_after_steps > 0 else steps
        return cls(steps, last, t.save_every, t.log_every, t.save_points)

    def logs(self, done: int) -> bool:
        return done % self.log_every == 0 or done == self.steps

    def saves(self, done: int) -> bool:
        return done < self.steps and ((self.save_every > 0 and done % self.save_every == 0) or done == self.last
                                      or done in save_point_steps(self.steps, self.save_points))


def save_point_steps(steps: int, points: int) -> list[int]:
    """``points`` evenly spaced steps before the last of ``steps`` (ceil(k * steps / (points + 1)))."""
    return sorted({-(-k * steps // (points + 1)) for k in range(1, points + 1)} - {steps})


def total_steps(cfg: RunConfig, steps_per_epoch: int) -> int:
    """``trainer.max_steps`` when set, else epochs x steps per epoch."""
    return cfg.trainer.max_steps if cfg.trainer.max_steps > 0 else cfg.trainer.epochs * steps_per_epoch

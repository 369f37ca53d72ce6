"""Recovering from lost actors: one wrapper around a driver's "build actors + loop".

    resume = the run's resume point
    loop: attempt(resume) -> done
          on a lost actor: the attempt's own cleanup has torn its actors and placement groups
          down; resume = the newest intact checkpoint; try again (at most trainer.max_failures times)

Resume is exact, so a run that lost an actor ends with the weights of one that did not. When
the recoveries are used up the run stops with one line naming the actor, the step and the
checkpoint to resume from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray.exceptions import RayActorError

from bfpo_ray.checkpoint import latest_checkpoint
from bfpo_ray.config import RunConfig
from bfpo_ray.drivers.setup import TrainingStopped, checkpoints_dir, resume_point

log = logging.getLogger(__name__)
T = TypeVar("T")


def actor_name(err: BaseException) -> str:
    """The class of the lost actor (from Ray's message), e.g. ``PolicyActor``."""
    found = re.search(r"class_name: (\w+)", str(err))
    return found.group(1) if found else type(err).__name__


def last_logged_step(output_dir: str | Path) -> int:
    """The last step in ``metrics.jsonl`` (0 when none): where a run was when it failed."""
    from bfpo_ray.run_log import read_metrics

    try:
        rows = read_metrics(output_dir)
    except (OSError, ValueError):
        return 0
    return int(rows[-1]["step"]) if rows else 0


def with_recovery(cfg: RunConfig, attempt: Callable[[Path | None], T]) -> T:
    """``attempt(resume_checkpoint)``, started again from the newest intact checkpoint after a lost actor.

    ``attempt`` must release its actors and placement groups when it raises (a ``finally``).
    """
    resume = resume_point(cfg)
    limit = cfg.trainer.max_failures
    failures = 0
    while True:
        try:
            return attempt(resume)
        except RayActorError as err:
            failures += 1
            actor, step = actor_name(err), last_logged_step(cfg.trainer.output_dir)
            newest = latest_checkpoint(checkpoints_dir(cfg))
            if failures > limit:
                where = (f"resume from {newest} with trainer.resume=auto" if newest
                         else "no checkpoint to resume from (set trainer.save_every)")
                used = f"after {limit} recoveries" if limit else "recovery off (trainer.max_failures=0)"
                raise TrainingStopped(f"lost actor {actor} at step {step} ({used}); {where}") from err
            log.warning("lost actor %s at step %d; recovery %d of %d from %s", actor, step, failures, limit,
                        newest or "the start (no checkpoint yet)")
            resume = newest


def kill_actors(*handles: Any) -> None:
    """``ray.kill`` every actor handle given (None skipped): an attempt's cleanup when it owns no placement group."""
    for handle in handles:
        if handle is not None:
            ray.kill(handle)

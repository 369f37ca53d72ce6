"""The console's view of a run: one live progress line, or plain lines when stdout is not a terminal.

    step 12/200 | loss 0.4210 | 1.9k tok/s | elapsed 0:00:31 | ETA 0:08:10 [| reward .. cost .. lambda ..]

On a terminal the line is rewritten in place (carriage return) at every logged step; into a
file or a pipe a plain line is printed at the first logged step, then at most every
``interval_s`` seconds, and at the last step. :class:`~bfpo_ray.run_log.RunLog` drives it, so
every driver shows it.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: metrics shown when present, with their labels (PPO's reward, cost and lambda among them)
SHOWN = (("loss", "loss"), ("reward", "reward"), ("cost", "cost"), ("lambda", "lambda"))


def clock(seconds: float) -> str:
    """``H:MM:SS``."""
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def rate(value: float) -> str:
    """A compact count per second: ``950``, ``1.9k``, ``2.3M``."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def progress_text(step: int, total: int, metrics: dict[str, Any], elapsed: float, per_step: float | None) -> str:
    """The progress line for ``step`` of ``total`` (``per_step``: seconds per step this session, for the ETA)."""
    parts = [f"step {step}/{total}" if total else f"step {step}"]
    parts += [f"{label} {metrics[key]:.4g}" for key, label in SHOWN if isinstance(metrics.get(key), int | float)]
    if isinstance(metrics.get("tokens_per_s"), int | float):
        parts.append(f"{rate(metrics['tokens_per_s'])} tok/s")
    parts.append(f"elapsed {clock(elapsed)}")
    if total and per_step is not None:
        parts.append(f"ETA {clock(per_step * (total - step))}")
    return " | ".join(parts)


class ProgressLine:
    """Shows a run's progress on ``stream`` (stdout by default)."""

    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None, interval_s: float = 10.0) -> None:
        self.total, self.start = total, start
        self.stream = stream or sys.stdout
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self.began = time.monotonic()
        self._printed_at: float | None = None
        self._open = False

    def update(self, step: int, metrics: dict[str, Any]) -> None:
        now = time.monotonic()
        done = step - self.start
        per_step = (now - self.began) / done if done > 0 else None
        text = progress_text(step, self.total, metrics, now - self.began, per_step)
        if self.live:
            self.stream.write(f"\r{text}\x1b[K")
            self._open = True
        elif self._printed_at is None or now - self._printed_at >= self.interval_s or step == self.total:
            self.stream.write(text + "\n")
            self._printed_at = now
        self.stream.flush()

    def close(self) -> None:
        """End the live line (the next output starts on a fresh line)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

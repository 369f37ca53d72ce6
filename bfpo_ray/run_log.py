"""Per-step metrics: one JSON object per line in ``metrics.jsonl``, TensorBoard events and the console's
progress line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from bfpo_ray.progress import ProgressLine


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class RunLog:
    """Appends metrics; on resume from step k, entries after step k are dropped first.

    ``total`` (the run's step count) feeds the console's progress line (step/total and ETA);
    ``progress=False`` keeps the console quiet.
    """

    def __init__(self, output_dir: str | Path, resume_step: int = 0, total: int = 0, progress: bool = True) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self._truncate_after(resume_step)
        self._file = self.path.open("a", encoding="utf-8")
        self._tb = SummaryWriter(log_dir=str(Path(output_dir) / "tensorboard"), purge_step=resume_step + 1)
        self._progress = ProgressLine(total, resume_step) if progress else None

    def _truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        self.path.write_text("".join(line + "\n" for line in kept))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        for key, value in metrics.items():
            if isinstance(value, int | float) and math.isfinite(value):
                self._tb.add_scalar(key, value, step)
        if self._progress is not None:
            self._progress.update(step, metrics)

    def close(self) -> None:
        self._file.close()
        self._tb.close()
        if self._progress is not None:
            self._progress.close()


def read_metrics(output_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl``."""
    path = Path(output_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]

"""What a run cost: wall and CPU seconds per role, reserved GPU seconds, tokens, FLOPs.

Every driver writes ``usage.json`` into its run directory. FLOPs follow the usual estimate
for a dense transformer of N parameters: 6N per trained token (forward + backward) and 2N per
token that only goes forward (reference, reward, cost and critic scoring, generation).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import ray


@dataclass
class Usage:
    wall_seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # role -> CPU seconds of its processes
    gpu_seconds: dict[str, float] = field(default_factory=dict)  # role -> GPUs reserved x seconds held
    trained_tokens: int = 0
    forward_tokens: int = 0  # scored without gradient: reference, reward/cost, critic values
    generated_tokens: int = 0
    parameters: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def flops(self) -> float:
        n = self.parameters
        return 6.0 * n * self.trained_tokens + 2.0 * n * (self.forward_tokens + self.generated_tokens)

    def add_role(self, role: str, cpu_seconds: float, gpus: float, held_seconds: float) -> None:
        self.cpu_seconds[role] = self.cpu_seconds.get(role, 0.0) + cpu_seconds
        if gpus:
            self.gpu_seconds[role] = self.gpu_seconds.get(role, 0.0) + gpus * held_seconds

    def add(self, other: Usage) -> None:
        """Add ``other``'s seconds and tokens to these (a run made of parts, e.g. online BFPO's rounds); the
        parameter count is ``other``'s, its notes are not copied."""
        self.parameters = other.parameters
        self.wall_seconds += other.wall_seconds
        self.trained_tokens += other.trained_tokens
        self.forward_tokens += other.forward_tokens
        self.generated_tokens += other.generated_tokens
        for role, seconds in other.cpu_seconds.items():
            self.cpu_seconds[role] = self.cpu_seconds.get(role, 0.0) + seconds
        for role, seconds in other.gpu_seconds.items():
            self.gpu_seconds[role] = self.gpu_seconds.get(role, 0.0) + seconds

    def save(self, run_dir: str | Path) -> None:
        data = asdict(self) | {"flops": self.flops, "total_cpu_seconds": sum(self.cpu_seconds.values())}
        (Path(run_dir) / "usage.json").write_text(json.dumps(data, indent=2))


def load_usage(run_dir: str | Path) -> Usage | None:
    """The run's usage, or None when it wrote none."""
    path = Path(run_dir) / "usage.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    data.pop("flops", None)
    data.pop("total_cpu_seconds", None)
    return Usage(**data)


def _process_cpu_seconds(_worker: object) -> float:
    return time.process_time()


def actor_cpu_seconds(actor) -> float:
    """CPU seconds (all threads) that the actor's process has used so far."""
    return float(ray.get(actor.__ray_call__.remote(_process_cpu_seconds)))

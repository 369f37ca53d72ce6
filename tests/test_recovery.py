"""Lost actors: kill -9 of the policy worker after a checkpoint; the same command recovers from the newest
intact checkpoint and ends with the weights of an uninterrupted run. With recovery off, one line names the
actor, the step and the checkpoint, which stays intact. Real local Ray, real processes."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray
from safetensors.torch import load_file

from bfpo_ray.checkpoint import step_dir, verify_directory
from bfpo_ray.cli import main
from bfpo_ray.config import load_config
from bfpo_ray.drivers.offline import train
from bfpo_ray.run_log import read_metrics

pytestmark = pytest.mark.slow


def overrides(world_dir, out, cache, **extra):
    items = {"world.dir": world_dir, "model.path": world_dir / "base", "trainer.output_dir": out,
             "data.cache_dir": cache, "data.train[0].fraction": 0.05, "algorithm.name": "dpo",
             "trainer.train_batch_size": 8, "trainer.micro_batch_size": 8, "trainer.max_steps": 8,
             "trainer.save_every": 2, "optim.lr": 1e-3, "policy.torch_threads": 1, "reference.torch_threads": 1,
             **extra}
    return [f"{k}={v}" for k, v in items.items()]


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (Ray's GCS, raylet and workers of a cluster started under it)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def kill_policy_after(checkpoint: Path, killed: list[int], timeout: float = 600) -> threading.Thread:
    """In the background: once ``checkpoint`` exists, SIGKILL the policy worker process (``ray::PolicyWorker``)
    of this test's Ray (a descendant of this process); its pid goes into ``killed``."""

    def run():
        deadline = time.monotonic() + timeout
        while not checkpoint.is_dir() and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in descendants(os.getpid()):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if title.startswith(b"ray::PolicyWorker"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    killer = threading.Thread(target=run, daemon=True)
    killer.start()
    return killer


def test_killed_policy_worker_is_recovered_to_the_same_weights(world_dir, tmp_path, ray_cluster):
    cache = tmp_path / "cache"
    straight = train(load_config("configs/demo/dpo.yaml", overrides(world_dir, tmp_path / "a", cache)))
    out = tmp_path / "b"
    command = [sys.executable, "-m", "bfpo_ray", "train", "--config", "configs/demo/dpo.yaml",
               *overrides(world_dir, out, cache)]
    killed: list[int] = []
    # the command joins this test's Ray (other clusters on the machine must not be picked up)
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    killer = kill_policy_after(step_dir(out / "checkpoints", 2), killed)
    stdout, stderr = proc.communicate(timeout=900)
    killer.join(timeout=5)
    assert len(killed) == 1 and proc.returncode == 0, stderr[-3000:]
    assert "lost actor PolicyWorker at step" in stderr and "recovery 1 of 3 from" in stderr
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    rows, straight_rows = read_metrics(out), read_metrics(straight)
    assert [r["step"] for r in rows] == [r["step"] for r in straight_rows]  # redone steps logged once
    assert rows[-1]["loss"] == pytest.approx(straight_rows[-1]["loss"], rel=1e-5)
    assert "step 8/8 | loss" in stdout  # the console's progress line (plain: stdout is a pipe)


def test_exhausted_recovery_stops_with_one_line_and_keeps_the_checkpoint(world_dir, tmp_path, ray_cluster, capsys):
    out = tmp_path / "run"
    killed: list[int] = []
    killer = kill_policy_after(step_dir(out / "checkpoints", 2), killed)
    code = main(["train", "--config", "configs/demo/dpo.yaml",
                 *overrides(world_dir, out, tmp_path / "cache", **{"trainer.max_failures": 0})])
    killer.join(timeout=5)
    assert len(killed) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bfpo-ray: error:")]
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("bfpo-ray: error: lost actor PolicyWorker at step ")
    assert lines[0].endswith(f"(recovery off (trainer.max_failures=0)); resume from "
                             f"{step_dir(out / 'checkpoints', 2)} with trainer.resume=auto")
    assert verify_directory(step_dir(out / "checkpoints", 2)) is None

"""Shared by the recovery tests: SIGKILL one actor process of this test's Ray once a checkpoint exists; run a
``bfpo-ray`` command that joins this test's Ray; compare two runs' final weights."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import ray
from safetensors.torch import load_file


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


def kill_actor_after(checkpoint: Path, actor_class: str, killed: list[int], timeout: float = 600) -> threading.Thread:
    """In the background: once ``checkpoint`` exists, SIGKILL the process of every ``actor_class`` actor
    (process title ``ray::<actor_class>``, e.g. ``ray::PolicyWorker``) of this test's Ray (a descendant of this
    process); their pids go into ``killed``."""
    title = f"ray::{actor_class}".encode()

    def run():
        deadline = time.monotonic() + timeout
        while not checkpoint.is_dir() and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in descendants(os.getpid()):
            try:
                name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if name == title or name.startswith(title + b"."):  # ray::Class, or ray::Class.method while busy
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    killer = threading.Thread(target=run, daemon=True)
    killer.start()
    return killer


def train_killing(args: list[str], checkpoint: Path, actor_class: str) -> tuple[subprocess.CompletedProcess, list[int]]:
    """``bfpo-ray train ARGS`` in a subprocess that joins this test's Ray (never another cluster on the machine),
    its ``actor_class`` actor killed once ``checkpoint`` exists; the finished process and the killed pids."""
    killed: list[int] = []
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    proc = subprocess.Popen([sys.executable, "-m", "bfpo_ray", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    killer = kill_actor_after(checkpoint, actor_class, killed)
    stdout, stderr = proc.communicate(timeout=900)
    killer.join(timeout=5)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), killed


def max_weight_diff(a: Path, b: Path) -> float:
    """Largest absolute difference over every tensor of two run dirs' ``model.safetensors``."""
    x, y = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert x.keys() == y.keys()
    return max((x[k] - y[k]).abs().max().item() for k in x)

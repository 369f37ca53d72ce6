"""`ray job submit` against a Ray head this test starts (and alone stops): a short BFPO job on
the safety world must reach SUCCEEDED and leave its HF checkpoint and metrics behind.

Pitfalls (DESIGN.md section 4): token auth is on by default (RAY_AUTH_MODE=disabled on
`ray start`), usage stats are disabled, and `ray stop` would kill every Ray on the machine,
so the head runs in its own session and temp dir and only its processes are killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bfpo_ray.strategies import free_port

REPO = Path(__file__).resolve().parents[1]


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _pids_using(marker: str) -> list[int]:
    """Processes whose command line or environment mentions ``marker`` (our head's unique temp dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline or marker.encode() in environ:
            found.append(int(entry.name))
    return found


class LocalHead:
    """A Ray head on 127.0.0.1 in its own session and temp dir."""

    def __init__(self, num_cpus: int = 2) -> None:
        self.temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: unix socket paths are limited
        self.port, self.dash = free_port(), free_port()
        env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", BFPO_TEST_HEAD=self.temp)
        env.pop("RAY_ADDRESS", None)
        self.env = env
        cmd = [_ray_bin(), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
               "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dash), "--disable-usage-stats",
               "--num-cpus", str(num_cpus), "--temp-dir", self.temp, "--include-dashboard", "true",
               # own agent ports: the defaults (e.g. 52365) are taken by any other Ray on the machine,
               # such as the test session's cluster, and then this head never gets a job agent
               "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
               "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]
        self.proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.address = f"http://127.0.0.1:{self.dash}"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.proc.returncode}")
            probe = subprocess.run([_ray_bin(), "job", "list", "--address", self.address], env=self.env,
                                   capture_output=True, timeout=60)
            if probe.returncode == 0:
                return
            time.sleep(2)
        raise TimeoutError("the Ray head did not come up")

    def stop(self) -> None:
        """SIGTERM our session, then SIGKILL whatever still names our temp dir; never `ray stop`."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            for pid in _pids_using(self.temp):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(2)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.mark.slow
def test_ray_job_submit_runs_bfpo_on_the_safety_world(world_dir, tmp_path):
    head = LocalHead()
    try:
        head.wait_ready()
        out = tmp_path / "job"
        overrides = [f"world.dir={world_dir}", f"model.path={world_dir / 'base'}", f"trainer.output_dir={out}",
                     f"data.cache_dir={tmp_path / 'cache'}", "data.train[0].fraction=0.05",
                     "data.buffer[0].fraction=0.05", "trainer.train_batch_size=8", "trainer.micro_batch_size=4",
                     "trainer.max_steps=2", "trainer.save_every=0", "trainer.log_every=1",
                     "policy.torch_threads=1", "reference.torch_threads=1", "ray.address=auto"]
        job_id = f"bfpo-test-{os.getpid()}-{int(time.time())}"
        cmd = [_ray_bin(), "job", "submit", "--address", head.address, "--submission-id", job_id,
               "--working-dir", str(REPO),
               "--runtime-env", str(REPO / "examples" / "runtime_env.yaml"), "--",
               sys.executable, "-m", "bfpo_ray", "train", "--config", "configs/demo/bfpo.yaml", *overrides]
        for _ in range(30):  # the head's dashboard agent may need a few more seconds than its API
            job = subprocess.run(cmd, env=head.env, capture_output=True, text=True, timeout=600, cwd=REPO)
            if "No available agent" not in job.stdout + job.stderr:
                break
            time.sleep(3)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        from ray.job_submission import JobStatus, JobSubmissionClient

        assert JobSubmissionClient(head.address).get_job_status(job_id) == JobStatus.SUCCEEDED
        assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [1, 2]
        uploaded = [p for p in Path(head.temp).glob("session_*/runtime_resources/working_dir_files/*") if p.is_dir()]
        assert uploaded
        for package in uploaded:  # the working dir went up without the virtualenv or run outputs
            assert not (package / ".venv").exists() and not (package / "runs").exists()
            assert (package / "bfpo_ray" / "__init__.py").is_file()
    finally:
        head.stop()
    assert _pids_using(head.temp) == []

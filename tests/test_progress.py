"""The console progress line: rewritten in place on a terminal (checked under a pseudo-terminal), plain
lines into a pipe."""

import os
import pty
import subprocess
import sys

from bfpo_ray.progress import progress_text

SCRIPT = """
import sys, time
from bfpo_ray.run_log import RunLog
log = RunLog(sys.argv[1], resume_step=1, total=4)
for step in (2, 3, 4):
    time.sleep(0.05)
    log.log(step, {"loss": 0.5 / step, "tokens_per_s": 1900.0, "reward": 0.25, "cost": -1.5, "lambda": 0.8})
log.close()
print("after")
"""


def run_under_pty(args):
    """stdout+stderr of ``args`` run with a pseudo-terminal as its stdout."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=subprocess.DEVNULL, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode()


def test_progress_line_is_rewritten_in_place_on_a_terminal(tmp_path):
    code, out = run_under_pty([sys.executable, "-c", SCRIPT, str(tmp_path)])
    assert code == 0
    frames = out.split("\r")
    assert [f.split(" | ")[0] for f in frames if f.startswith("step ")] == ["step 2/4", "step 3/4", "step 4/4"]
    last = [f for f in frames if f.startswith("step 4/4")][0]
    for part in ("loss 0.125", "reward 0.25", "cost -1.5", "lambda 0.8", "1.9k tok/s", "elapsed 0:00:0", "ETA 0:00:00"):
        assert part in last, part
    assert "\x1b[K\nafter" in out.replace("\r\n", "\n")  # close() ends the live line before other output


def test_plain_lines_when_stdout_is_not_a_terminal(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         timeout=60).stdout
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    # the first logged step, then at most one line per 10 s, and the last step
    assert [line.split(" | ")[0] for line in lines] == ["step 2/4", "step 4/4", "after"]


def test_eta_from_the_pace_of_this_session():
    text = progress_text(30, 130, {"loss": 1.23456}, elapsed=20.0, per_step=2.0)
    assert text == "step 30/130 | loss 1.235 | elapsed 0:00:20 | ETA 0:03:20"

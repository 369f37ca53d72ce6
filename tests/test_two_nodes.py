"""Two Ray nodes on this machine (ray.cluster_utils.Cluster): a 2-worker BFPO run whose ranks can only
fit on different nodes, writing to one shared absolute directory, stopped after step 1 and resumed."""

import json
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bfpo_ranks_on_two_nodes_write_one_run_and_resume(world_dir, tmp_path):
    out = tmp_path / "shared"
    done = subprocess.run([sys.executable, "tests/two_nodes_bfpo.py", str(world_dir), str(out)],
                          capture_output=True, text=True, timeout=1200)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "NODES 2" in log and "PARTIAL DONE" in log and "RESUMED DONE" in log
    spans = re.findall(r"policy group: 2 ranks on (\d) node", log)
    assert spans == ["2", "2"]  # both runs: one rank per node
    run = out / "run"
    assert (run / "model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 2 and 1 in steps
    assert (run / "checkpoints" / "step-00000001").is_dir()

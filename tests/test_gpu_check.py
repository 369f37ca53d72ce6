"""scripts/gpu_check.py runs on CPU too (tiny sizes), without Ray, and writes its report."""

import json
import subprocess
import sys


def test_gpu_check_runs_on_cpu_and_reports(world_dir, tmp_path):
    out = tmp_path / "gpu_check.json"
    cmd = [sys.executable, "scripts/gpu_check.py", "--model", str(world_dir / "base"), "--pairs", "2",
           "--prompt-len", "8", "--response-len", "8", "--steps", "1", "--gen-batch", "2", "--gen-tokens", "4",
           "--threads", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    report = json.loads(out.read_text())
    assert report["dtype"] == "float32" and report["vllm"] == "skipped: no GPU"
    for phase in ("reference", "train"):
        assert report[phase]["tokens_per_s"] > 0
    assert report["hf_generate"]["new_tokens"] > 0 and report["memory"]["host_rss_peak_gb"] > 0
    assert report["train"]["loss"] > 0
    assert report["ray_imported"] is False

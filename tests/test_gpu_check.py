"""scripts/gpu_check.py runs on CPU too (tiny sizes), without Ray: our rollout engine, reference, policy
under DeepSpeed ZeRO-3, and the bucketed weight sync whose result it checks (engine scores like the policy)."""

import json
import subprocess
import sys


def test_gpu_check_runs_our_classes_end_to_end_on_cpu(world_dir, tmp_path):
    out = tmp_path / "gpu_check.json"
    cmd = [sys.executable, "scripts/gpu_check.py", "--model", str(world_dir / "base"), "--pairs", "2",
           "--prompt-len", "8", "--response-len", "8", "--steps", "1", "--gen-batch", "2", "--gen-tokens", "6",
           "--threads", "1", "--strategy", "deepspeed", "--zero-stage", "3", "--lr", "1e-2", "--bucket-mb", "0.5",
           "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dtype"] == "float32" and report["rollout"] == "hf" and report["strategy"] == "deepspeed zero-3"
    for phase in ("reference", "train"):
        assert report[phase]["tokens_per_s"] > 0
    assert report["generate"]["new_tokens"] > 0 and report["memory"]["host_rss_peak_gb"] > 0
    sync = report["sync"]
    assert sync["ok"] and sync["buckets"] > 2  # ZeRO-3 shards were gathered: the engine now scores like the policy
    assert sync["gap_after"] <= 1e-3 < sync["gap_before"]
    assert report["ray_imported"] is False

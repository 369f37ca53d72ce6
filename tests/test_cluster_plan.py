"""``bfpo-ray plan`` and the placement rules behind it: every cluster config fits the hardware its
comment states (and its actors really start on logical GPUs), colocated roles size a bundle by the max,
an unplaceable run fails in one line naming roles and numbers, zero-GPU actors see no GPU."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bfpo_ray.cli import main
from bfpo_ray.cluster_plan import PlanError, check_fits, requests_of, shape
from bfpo_ray.config import load_config

CONFIGS = sorted(Path("configs/cluster").glob("*.yaml")) + sorted(Path("examples/configs").glob("*.yaml"))
HARDWARE = re.compile(r"^# Hardware: (\d+) nodes? x (\d+) GPUs? x (\d+) CPUs", re.M)


def stated_hardware(path: Path) -> tuple[int, int, int]:
    found = HARDWARE.search(path.read_text())
    assert found, f"{path} states no '# Hardware: N node(s) x G GPUs x C CPUs' line"
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_cluster_config_plans_on_its_stated_hardware(path, capsys):
    nodes, gpus, cpus = stated_hardware(path)
    code = main(["plan", "--config", str(path), "--nodes", str(nodes), "--gpus-per-node", str(gpus),
                 "--cpus-per-node", str(cpus)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "fits" in out and "GPUs" in out


def test_colocated_roles_size_a_bundle_by_the_max_not_the_sum():
    cfg = load_config("examples/configs/bfpo_qwen0.5b.yaml")
    (request,) = requests_of(cfg)  # reference colocated with policy: one group
    assert request.role == "reference+policy" and request.bundles == [{"CPU": 4, "GPU": 1}] * 4
    check_fits(cfg, shape(1, 4, 16))
    with pytest.raises(PlanError):
        check_fits(cfg, shape(1, 3, 16))


def test_unplaceable_run_fails_in_one_line_naming_roles_and_numbers(tmp_path):
    cmd = [sys.executable, "-m", "bfpo_ray", "plan", "--config", "configs/cluster/ppo_bilinear.yaml",
           "--nodes", "1", "--gpus-per-node", "4", "rollout.num_workers=2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "INFO" not in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert "4.75 GPUs" in errors[0] and "baseline engine 1" in errors[0] and "rollout 2x1" in errors[0]
    assert "the cluster has 4 GPUs" in errors[0]


def test_fractional_gpus_pack_per_device_like_ray():
    cfg = load_config("configs/cluster/ppo_lagrangian.yaml")
    check_fits(cfg, shape(1, 4, 32))  # 1 + 2 + (0.25 + 0.25 + 2 x 0.125 on one device)
    uneven = [f"{role}.num_gpus_per_worker=0.6" for role in ("policy", "reference", "reward")]
    cfg = load_config("configs/cluster/ppo_lagrangian.yaml", [*uneven, "critic.num_gpus_per_worker=0"])
    with pytest.raises(PlanError):  # 2 + 3 x 0.6 = 3.8 GPUs in all, but no two 0.6 share a device
        check_fits(cfg, shape(1, 4, 32))


def test_vllm_tensor_parallel_size_is_tied_to_the_engine_gpus():
    from bfpo_ray.config import ConfigError

    with pytest.raises(ConfigError, match="vllm_tensor_parallel_size"):
        load_config("configs/cluster/ppo_linear.yaml", ["rollout.vllm_tensor_parallel_size=2"])
    cfg = load_config("configs/cluster/ppo_linear.yaml", ["rollout.vllm_tensor_parallel_size=4",
                                                          "rollout.num_gpus_per_worker=4"])
    check_fits(cfg, shape(1, 10, 32))  # two TP-4 engines, policy 1, 0.75 shared
    with pytest.raises(PlanError, match="rollout"):
        check_fits(cfg, shape(5, 2, 32))  # 10 GPUs, but a TP-4 engine needs 4 on one node


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~40 actor processes: minutes on 2 quiet cores, much longer on a loaded machine
def test_every_config_starts_its_actors_on_logical_gpus(world_dir):
    """One logical-GPU node as large as the largest stated hardware (each config's own fit is the test above)."""
    paths = [str(p) for p in CONFIGS if "methods:" not in p.read_text()]  # a compare config: its runs are these
    shapes = [stated_hardware(Path(p)) for p in paths]
    gpus, cpus = max(n * g for n, g, _ in shapes), max(n * c for n, _, c in shapes)
    done = subprocess.run([sys.executable, "tests/logical_gpus_start.py", str(world_dir), str(gpus), str(cpus),
                           *paths], capture_output=True, text=True, timeout=2300)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert reports.pop() == {"zero_gpu_role": ""}  # no GPU at all, rather than every GPU of the node
    assert [r["config"] for r in reports] == paths
    for report in reports:
        planned = {name: len(r.bundles) for r in requests_of(load_config(report["config"]))
                   for name in r.role.split("+")}
        assert {role: len(seen) for role, seen in report["visible"].items()} == planned  # every actor answered
        for role, seen in report["visible"].items():
            assert all(s not in ("", "unset") for s in seen), (report["config"], role)  # every role here has GPUs


def test_train_stops_at_once_when_the_cluster_can_never_hold_the_run(world_dir, capsys):
    started = time.perf_counter()
    code = main(["train", "--config", "configs/world/ppo_linear.yaml", f"world.dir={world_dir}",
                 f"model.path={world_dir}/base", "reward.source=oracle", "policy.num_gpus_per_worker=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "cannot place policy" in err[0] and "1 GPUs" in err[0] and "the cluster has 0 GPUs" in err[0]
    assert time.perf_counter() - started < 30

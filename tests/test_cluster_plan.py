"""``bfpo-ray plan`` and the placement rules behind it: every cluster config fits the hardware its
comment states (and its actors really start on logical GPUs), colocated roles size a bundle by the max
(offline: they take turns) or the sum (PPO: alive together),
an unplaceable run fails in one line naming roles and numbers, zero-GPU actors see no GPU."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bfpo_ray.cli import main
from bfpo_ray.cluster_plan import PlanError, check_fits, ppo_roles, requests_of, shape
from bfpo_ray.config import ConfigError, load_config
from bfpo_ray.drivers.ppo_actors import actor_count

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


def test_ppo_roles_colocated_with_the_policy_share_its_bundles_sized_by_the_sum():
    cfg = load_config("configs/cluster/ppo_lagrangian.yaml", ["policy.num_workers=2", "critic.num_workers=2",
                                                              "algorithm.mini_batch_size=64"])
    shared, engines = requests_of(cfg)
    assert shared.role == "policy+reference+reward+critic (reward)+critic (cost)"
    # bundle 0: policy 0.5 + reference 0.125 + reward 0.125 + 2 critics x 0.125; bundle 1: policy + 2 critics
    assert shared.bundles == [{"CPU": 5, "GPU": 1.0}, {"CPU": 3, "GPU": 0.75}]
    assert shared.actor_count == 2 + 1 + 1 + 2 * 2
    assert actor_count(cfg) == 8 + 2  # the same actors as apart: colocation changes where, not how many
    assert actor_count(load_config("configs/cluster/ppo_lagrangian.yaml", APART)) == 1 + 1 + 2 + 1 + 2
    check_fits(cfg, shape(1, 4, 32))
    with pytest.raises(PlanError, match="policy\\+reference"):
        check_fits(cfg, shape(1, 3, 32))  # 1 + 0.75 + 2 engines: no device left whole for the second bundle


@pytest.mark.parametrize("overrides, message", [
    (["rollout.colocate_with=policy"], "'rollout.colocate_with': not for ppo: engines are placed on their own"),
    (["policy.colocate_with=critic"], "'policy.colocate_with': not for ppo: the policy hosts the bundles"),
    (["critic.colocate_with=reference"], "only share the policy's bundles ('policy'), got 'reference'"),
    (["critic.num_workers=2"], "'critic.num_workers': must be at most policy.num_workers = 1"),
    (["policy.num_gpus_per_worker=0.75"], "bundle 0 of the policy's group would ask for 1.25 GPUs"),
])
def test_bad_ppo_colocation_names_the_key(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config("configs/cluster/ppo_lagrangian.yaml", overrides)


def test_unplaceable_run_fails_in_one_line_naming_roles_and_numbers(tmp_path):
    cmd = [sys.executable, "-m", "bfpo_ray", "plan", "--config", "configs/cluster/ppo_bilinear.yaml",
           "--nodes", "1", "--gpus-per-node", "4", "rollout.num_workers=2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "INFO" not in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert "4.75 GPUs" in errors[0] and "baseline engine 1" in errors[0] and "rollout 2x1" in errors[0]
    assert "the cluster has 4 GPUs" in errors[0]


APART = [f"{role}.colocate_with=''" for role in ("reference", "reward", "critic")]


def test_fractional_gpus_pack_per_device_like_ray():
    cfg = load_config("configs/cluster/ppo_lagrangian.yaml", [*APART, "policy.num_gpus_per_worker=1",
                                                              "reference.num_gpus_per_worker=0.25"])
    check_fits(cfg, shape(1, 4, 32))  # 1 + 2 + (0.25 + 0.125 + 2 x 0.125 on one device)
    uneven = [f"{role}.num_gpus_per_worker=0.6" for role in ("policy", "reference", "reward")]
    cfg = load_config("configs/cluster/ppo_lagrangian.yaml", [*APART, *uneven, "critic.num_gpus_per_worker=0"])
    with pytest.raises(PlanError):  # 2 + 3 x 0.6 = 3.8 GPUs in all, but no two 0.6 share a device
        check_fits(cfg, shape(1, 4, 32))


def test_vllm_tensor_parallel_size_is_tied_to_the_engine_gpus():
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
        cfg = load_config(report["config"])
        planned = {name: role.num_workers for name, role in ppo_roles(cfg).items()} if cfg.algorithm.name == "ppo" \
            else {name: len(r.bundles) for r in requests_of(cfg) for name in r.role.split("+")}
        seen = report["visible"]
        assert {role: len(devices) for role, devices in seen.items()} == planned  # every actor answered
        for role, devices in seen.items():
            assert all(d not in ("", "unset") for d in devices), (report["config"], role)  # every role has GPUs
        if cfg.algorithm.name == "ppo":  # a role colocated with the policy sees worker i's device
            guests = [n for n, role in ppo_roles(cfg).items() if role.colocate_with]
            for name in guests:
                assert seen[name] == seen["policy"][: len(seen[name])], (report["config"], name)


def test_train_stops_at_once_when_the_cluster_can_never_hold_the_run(world_dir, capsys):
    started = time.perf_counter()
    code = main(["train", "--config", "configs/world/ppo_linear.yaml", f"world.dir={world_dir}",
                 f"model.path={world_dir}/base", "reward.source=oracle", "policy.num_gpus_per_worker=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "cannot place policy" in err[0] and "1 GPUs" in err[0] and "the cluster has 0 GPUs" in err[0]
    assert time.perf_counter() - started < 30

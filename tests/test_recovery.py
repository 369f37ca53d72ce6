"""Lost actors: kill -9 of the policy worker after a checkpoint; the same command recovers from the newest
intact checkpoint and ends with the weights of an uninterrupted run. With recovery off, one line names the
actor, the step and the checkpoint, which stays intact. Real local Ray, real processes."""

import pytest
from recovery_helpers import kill_actor_after, max_weight_diff, train_killing

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


def test_killed_policy_worker_is_recovered_to_the_same_weights(world_dir, tmp_path, ray_cluster):
    cache = tmp_path / "cache"
    straight = train(load_config("configs/demo/dpo.yaml", overrides(world_dir, tmp_path / "a", cache)))
    out = tmp_path / "b"
    done, killed = train_killing(["--config", "configs/demo/dpo.yaml", *overrides(world_dir, out, cache)],
                                 step_dir(out / "checkpoints", 2), "PolicyWorker")
    assert len(killed) == 1 and done.returncode == 0, done.stderr[-3000:]
    assert "lost actor PolicyWorker at step" in done.stderr and "recovery 1 of 3 from" in done.stderr
    assert max_weight_diff(straight, out) <= 1e-6
    rows, straight_rows = read_metrics(out), read_metrics(straight)
    assert [r["step"] for r in rows] == [r["step"] for r in straight_rows]  # redone steps logged once
    assert rows[-1]["loss"] == pytest.approx(straight_rows[-1]["loss"], rel=1e-5)
    assert "step 8/8 | loss" in done.stdout  # the console's progress line (plain: stdout is a pipe)


def test_exhausted_recovery_stops_with_one_line_and_keeps_the_checkpoint(world_dir, tmp_path, ray_cluster, capsys):
    out = tmp_path / "run"
    killed: list[int] = []
    killer = kill_actor_after(step_dir(out / "checkpoints", 2), "PolicyWorker", killed)
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

"""The one rule every driver uses for when to log, checkpoint and stop."""

from bfpo_ray.config import load_config
from bfpo_ray.drivers.setup import StepPlan


def plan(**overrides):
    cfg = load_config("configs/demo/bfpo.yaml", [f"trainer.{k}={v}" for k, v in overrides.items()])
    return StepPlan.of(cfg, 10)


def test_saves_every_n_but_never_after_the_final_step():
    p = plan(save_every=4, log_every=3)
    assert p.last == 10
    assert [d for d in range(1, 11) if p.saves(d)] == [4, 8]
    assert [d for d in range(1, 11) if p.logs(d)] == [3, 6, 9, 10]


def test_exit_after_steps_cuts_the_run_and_checkpoints_the_cut():
    p = plan(save_every=0, exit_after_steps=3)
    assert p.last == 3 and [d for d in range(1, 11) if p.saves(d)] == [3]
    assert plan(exit_after_steps=20).last == 10

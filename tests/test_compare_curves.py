"""Compute curves, seeds and the headline of `bfpo-ray compare`, without Ray: FLOPs of a curve point,
checkpoint spacing, aggregation over seeds, the headline ratio, which shared stages a method needs."""

import json
import math
import statistics
from pathlib import Path

import pytest

from bfpo_ray.compare.aggregate import method_rows, summarise, t975
from bfpo_ray.compare.config import load_compare_config
from bfpo_ray.compare.curves import curve_overrides, curve_points, flops_at
from bfpo_ray.compare.headline import compute_headline, flops_to_reach
from bfpo_ray.compare.stages import needed_stages
from bfpo_ray.config import ConfigError, load_config
from bfpo_ray.drivers.setup import StepPlan, save_point_steps


def test_save_points_checkpoint_evenly_and_never_the_final_step():
    assert save_point_steps(200, 4) == [40, 80, 120, 160]
    assert save_point_steps(10, 2) == [4, 7]  # ceil(10/3), ceil(20/3)
    assert save_point_steps(2, 4) == [1]  # more points than steps: each step at most once, never the last
    cfg = load_config("configs/demo/bfpo.yaml", curve_overrides(3))
    plan = StepPlan.of(cfg, 10)
    assert [d for d in range(1, 11) if plan.saves(d)] == [4, 7]
    assert cfg.trainer.keep_last == 3 and curve_overrides(1) == []


def _run_dir(tmp_path, rows, total, checkpoint_layout="offline"):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # usage.json: parameters 10, 100 trained tokens, no forward tokens -> flops = 6 * 10 * 100 = 6000
    (run / "usage.json").write_text(json.dumps({"parameters": 10, "trained_tokens": total // 60}))
    for step in (4, 7):
        weights = run / "checkpoints" / f"step-{step:08d}"
        weights = weights / "policy" if checkpoint_layout == "ppo" else weights
        weights.mkdir(parents=True)
        (weights / "config.json").write_text("{}")
    return run


def test_curve_point_flops_are_the_logged_cumulative_count_at_its_step(tmp_path):
    rows = [{"step": s, "loss": 1.0, "cumulative_flops": 500.0 * s + 1000.0} for s in range(1, 11)]
    run = _run_dir(tmp_path, rows, 6000, checkpoint_layout="ppo")
    cfg = load_config("configs/demo/bfpo.yaml", [f"trainer.output_dir={run}"])
    points = curve_points(cfg, 3)
    assert [(p.step, p.steps) for p in points] == [(4, 10), (7, 10), (10, 10)]
    assert [p.flops for p in points] == [3000.0, 4500.0, 6000.0]  # 500*4+1000, 500*7+1000, usage.json total
    assert [p.flops_source for p in points] == ["logged", "logged", "usage.json"]
    assert points[0].model == str(run / "checkpoints" / "step-00000004" / "policy")  # PPO: HF weights in policy/
    assert points[-1].model == str(run)


def test_curve_without_a_checkpoint_keeps_the_points_it_has(tmp_path):
    run = _run_dir(tmp_path, [{"step": s, "cumulative_flops": 600.0 * s} for s in range(1, 11)], 6000)
    cfg = load_config("configs/demo/bfpo.yaml", [f"trainer.output_dir={run}"])
    points = curve_points(cfg, 4)  # wants steps 3, 5, 8: none saved
    assert [p.step for p in points] == [10]
    assert [p.model for p in curve_points(cfg, 3)][:2] == [str(run / "checkpoints" / f"step-0000000{s}")
                                                          for s in (4, 7)]


def test_an_online_run_is_evaluated_at_the_end_of_every_round(tmp_path):
    run = tmp_path / "online"
    run.mkdir()
    rows = [{"step": r, "round": r, "cumulative_flops": 1000.0 * r} for r in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "usage.json").write_text(json.dumps({"parameters": 10, "trained_tokens": 50}))  # 6 * 10 * 50 = 3000
    cfg = load_config("configs/world/bfpo_self.yaml", [f"trainer.output_dir={run}", "online.rounds=3"])
    points = curve_points(cfg, 1)  # rounds are the points whatever eval_points
    assert [(p.step, p.steps, p.flops, p.flops_source) for p in points] == \
        [(1, 3, 1000.0, "logged"), (2, 3, 2000.0, "logged"), (3, 3, 3000.0, "usage.json")]
    assert [p.model for p in points] == [str(run / "rounds" / "round-00" / "policy"),
                                         str(run / "rounds" / "round-01" / "policy"), str(run)]


def test_flops_at_interpolates_unlogged_steps_and_falls_back_to_linear_in_steps():
    rows = [{"step": 5, "cumulative_flops": 1000.0}, {"step": 10, "cumulative_flops": 3000.0}]
    assert flops_at(rows, 10, 10, 9.0) == (3000.0, "logged")
    assert flops_at(rows, 7, 10, 9.0) == (1800.0, "interpolated")  # 1000 + 2/5 * 2000
    assert flops_at(rows, 2, 10, 9.0) == (400.0, "interpolated")  # from (0, 0) to (5, 1000)
    assert flops_at([{"step": 7, "loss": 1.0}], 4, 10, 5000.0) == (2000.0, "linear in steps")


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 10, 30):
        assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-3)
    assert t975(200) == 1.96


def _metric(v):
    return {"value": v, "ci95": [v - 0.1, v + 0.1]}


def test_summary_over_seeds_is_mean_std_and_t_interval():
    out = summarise([_metric(0.6), _metric(0.8), _metric(0.7)])
    assert out["value"] == pytest.approx(0.7) and out["std"] == pytest.approx(0.1)
    half = 4.303 * 0.1 / math.sqrt(3)
    assert out["ci95"] == pytest.approx([0.7 - half, 0.7 + half])
    assert (out["min"], out["max"], out["per_seed"], out["runs"]) == (0.6, 0.8, [0.6, 0.8, 0.7], 3)
    assert summarise([_metric(0.9), _metric(1.0)], rate=True)["ci95"][1] == 1.0  # t-interval clipped to [0, 1]
    assert summarise([_metric(0.9), _metric(1.0)])["ci95"][1] == pytest.approx(0.95 + 12.706 * 0.05)
    one = summarise([_metric(0.5)])
    assert one["ci95"] == [0.4, 0.6] and one["std"] == 0.0  # one run keeps its own evaluation interval


def _run(name, seed, harms, flops, status="ok"):
    curve = [{"step": i + 1, "steps": len(harms), "flops": f, "flops_source": "logged",
              "metrics": {"harmlessness": _metric(h), "helpfulness": _metric(0.9)}}
             for i, (h, f) in enumerate(zip(harms, flops, strict=True))]
    return {"name": name, "status": status, "seed": seed, "run_dir": f"r/{seed}", "error": None if status == "ok"
            else "RuntimeError: boom", "metrics": curve[-1]["metrics"] if status == "ok" else {},
            "cost": {"flops": flops[-1]}, "curve": curve if status == "ok" else []}


def test_method_rows_average_seeds_point_by_point_and_add_the_shared_stages():
    results = [_run("A", 1, [0.2, 0.6], [10.0, 20.0]), _run("A", 2, [0.4, 0.8], [12.0, 22.0]),
               _run("A", 3, [0.0], [1.0], status="failed"), _run("B", None, [0.5], [7.0])]
    rows = method_rows(results, {"A": ["sft"], "B": ["sft", "rm"]}, {"sft": {"flops": 100.0}, "rm": {"flops": 5.0}})
    a, b = rows
    assert a["seeds"] == [1, 2] and a["failed_seeds"] == [{"seed": 3, "error": "RuntimeError: boom"}]
    assert [p["metrics"]["harmlessness"]["value"] for p in a["curve"]] == pytest.approx([0.3, 0.7])
    assert [p["total_flops"] for p in a["curve"]] == [111.0, 121.0]  # mean own FLOPs + sft
    assert a["metrics"]["harmlessness"]["std"] == pytest.approx(statistics.stdev([0.6, 0.8]))
    assert a["cost"]["total_flops"] == 121.0 and b["cost"]["total_flops"] == 112.0


def _row(name, points, stages=("sft",), stage_flops=0.0, seeds=(1,)):
    curve = [{"total_flops": f + stage_flops, "metrics": {"harmlessness": {"value": h}}} for f, h in points]
    return {"name": name, "status": "ok", "stages": list(stages), "seeds": list(seeds), "curve": curve,
            "cost": {"total_flops": curve[-1]["total_flops"]}}


def test_headline_ratio_is_the_first_point_reaching_the_baselines_final_value():
    bfpo = _row("BFPO", [(1e9, 0.5), (2e9, 0.92), (3e9, 0.95)], stage_flops=4e9)
    ppo = _row("PPO (Lagrangian)", [(1e10, 0.4), (5e10, 0.9)], stages=("sft", "rm", "cm"), stage_flops=5e9)
    h = compute_headline(bfpo, ppo)
    assert h.target == 0.9 and h.need_flops == 6e9 and h.baseline_flops == 5.5e10  # 2e9 + 4e9 ; 5e10 + 5e9
    assert h.ratio == pytest.approx(6e9 / 5.5e10)
    assert "BFPO reaches the harmlessness PPO (Lagrangian) ends at (0.900) with 6.00e+09 FLOPs, 10.9% of" in h.text
    assert "BFPO sft, PPO (Lagrangian) sft+rm+cm" in h.text


def test_headline_says_plainly_when_the_method_never_reaches_the_baseline():
    bfpo = _row("BFPO", [(1e9, 0.5), (2e9, 0.7), (3e9, 0.6)])
    ppo = _row("PPO", [(1e10, 0.65), (2e10, 0.8)])
    h = compute_headline(bfpo, ppo)
    assert h.ratio is None and h.need_flops is None
    assert "BFPO never reaches the harmlessness PPO ends at (0.800): its best evaluated point is 0.700 at " \
           "2.00e+09 FLOPs; PPO reaches that 0.700 with 2.00e+10 FLOPs" in h.text
    failed = {"name": "PPO", "status": "failed", "curve": []}
    assert compute_headline(bfpo, failed).text == "**Headline**: not computed: PPO has no evaluated harmlessness."


def test_flops_to_reach_takes_the_cheapest_point_at_or_above():
    assert flops_to_reach([(3.0, 0.9), (1.0, 0.2), (2.0, 0.5)], 0.5) == 2.0
    assert flops_to_reach([(1.0, 0.2)], 0.5) is None


def test_demo_methods_need_the_stages_their_paths_mention():
    needs = needed_stages(load_compare_config("configs/demo/compare.yaml"))
    assert needs["SFT"] == ["sft"] and needs["BFPO"] == ["sft"]
    assert needs["PPO (Lagrangian)"] == ["sft", "rm", "cm"]


def _compare(tmp_path, extra):
    path = tmp_path / "c.yaml"
    path.write_text(f"output_dir: {tmp_path}/out\nmethods:\n  - name: A\n    model: m\n  - name: B\n    model: n\n"
                    + extra)
    return path


@pytest.mark.parametrize(("extra", "message"), [
    ("eval_points: 0\n", "config key 'eval_points': must be at least 1, got 0"),
    ("seeds: [1, 1]\n", "config key 'seeds': must be distinct"),
    ("headline: {method: A, baseline: C}\n", "config key 'headline.baseline': no method named 'C'"),
    ("headline: {method: A}\n", "config key 'headline': set both"),
    ("headline: {method: A, baseline: B, metric: over_refusal}\n", "config key 'headline.metric'"),
])
def test_bad_curve_seed_and_headline_keys_fail_in_one_line(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_compare_config(_compare(tmp_path, extra))


def test_compare_full_loads_and_every_run_config_validates():
    from bfpo_ray.compare.runner import _run_config, method_run_config, method_runs

    cfg = load_compare_config("configs/world/compare_full.yaml")
    assert len(cfg.seeds) == 3 and cfg.eval_points > 1
    assert (cfg.headline.method, cfg.headline.baseline) == ("BFPO", "PPO (Lagrangian)")
    assert {"BFPO", "PPO (bilinear)", "PPO (Lagrangian)", "PPO (linear)"} <= {m.name for m in cfg.methods}
    needs = needed_stages(cfg)
    assert needs["BFPO"] == ["sft"] and needs["PPO (Lagrangian)"] == ["sft", "rm", "cm"]
    runs = method_runs(cfg)
    assert len(runs) == sum(3 if m.config else 1 for m in cfg.methods)
    out = Path(cfg.output_dir)
    for stage in cfg.stages:
        _run_config(stage.config, cfg, out / stage.name, stage.overrides)
    for method, seed in runs:
        if method.config:
            run = method_run_config(method, cfg, out, seed)
            assert run.trainer.seed == seed and run.trainer.save_points == cfg.eval_points - 1
            assert run.trainer.output_dir.endswith(f"seed-{seed}")


def test_the_demo_is_a_subset_of_compare_all_and_shares_its_runs():
    from bfpo_ray.compare.runner import method_run_config

    demo, every = (load_compare_config(f"configs/demo/{n}.yaml") for n in ("compare", "compare_all"))
    assert demo.output_dir == every.output_dir and demo.stages == every.stages
    by_name = {m.name: m for m in every.methods}
    assert {m.name for m in demo.methods} < set(by_name)
    assert {"DPO (helpful only)", "DPO (safety only)", "DPO (naive mix)", "IPO"} <= set(by_name)
    out = Path(demo.output_dir)
    for method in demo.methods:  # the same run config: compare_all reuses the demo's finished runs
        assert method == by_name[method.name]
        if method.config:
            assert method_run_config(method, demo, out, None) == method_run_config(method, every, out, None)

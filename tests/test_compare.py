"""`bfpo-ray compare` end to end on a real local Ray: two cheap methods, one broken, the report."""

import json

import pytest

from bfpo_ray.compare.config import load_compare_config, slug
from bfpo_ray.compare.report import findings
from bfpo_ray.compare.runner import run_compare
from bfpo_ray.config import ConfigError


def write_compare(tmp_path, world_dir, methods):
    text = f"""
name: tiny
output_dir: {tmp_path / "cmp"}
world_dir: {world_dir}
eval_config: configs/demo/bfpo.yaml
eval_overrides: [eval.max_new_tokens=6, model.tokenizer_path={world_dir / "base"}]
methods:
{methods}
"""
    path = tmp_path / "compare.yaml"
    path.write_text(text)
    return path


DPO = """  - name: DPO (tiny)
    config: configs/demo/dpo.yaml
    overrides:
      - model.path={base}
      - "data.train[0].fraction=0.03"
      - trainer.train_batch_size=8
      - trainer.micro_batch_size=8
      - trainer.max_steps=2
      - trainer.save_every=0
      - optim.lr=1e-3
      - data.cache_dir={cache}"""


@pytest.mark.slow
def test_compare_two_methods_and_a_failure(world_dir, tmp_path, ray_cluster, capsys):
    methods = "\n".join([
        f"  - name: Base\n    model: {world_dir / 'base'}",
        DPO.format(base=world_dir / "base", cache=tmp_path / "cache"),
        f"  - name: Broken\n    config: configs/demo/dpo.yaml\n    overrides:\n"
        f"      - model.path={world_dir / 'base'}\n"
        f"      - \"data.train[0].path={tmp_path / 'missing.jsonl'}\"",
    ])
    cfg = load_compare_config(write_compare(tmp_path, world_dir, methods))
    results = run_compare(cfg)
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert progress == ["[1/3] method Base", "[1/3] method Base: ok", "[2/3] method DPO (tiny)",
                        "[2/3] method DPO (tiny): ok", "[3/3] method Broken", "[3/3] method Broken: failed"]
    by_name = {r.name: r for r in results}
    assert by_name["Base"].status == "ok" and by_name["DPO (tiny)"].status == "ok"
    assert by_name["Broken"].status == "failed" and "file not found" in by_name["Broken"].error
    dpo = by_name["DPO (tiny)"]
    assert dpo.cost["trained_tokens"] > 0 and dpo.cost["flops"] > 0 and dpo.cost["wall_seconds"] > 0
    assert dpo.cost["cpu_seconds"] > 0
    assert 0 <= dpo.metrics["harmlessness"]["value"] <= 1 and "mc_pick_safe" in dpo.metrics
    out = tmp_path / "cmp"
    report = (out / "report.md").read_text()
    assert "| DPO (tiny) |" in report and "FAILED: DataError" in report
    assert (out / "pareto.png").stat().st_size > 10_000 and (out / "curves.png").is_file()
    saved = json.loads((out / "report.json").read_text())
    assert [m["name"] for m in saved["methods"]] == ["Base", "DPO (tiny)", "Broken"]
    evaluation = saved["evaluation"]["name"]
    assert evaluation.startswith("eval-eval_prompts-")  # eval.max_new_tokens=6: not the default evaluation
    assert (out / slug("DPO (tiny)") / f"{evaluation}.json").is_file()
    assert f"Evaluation `{evaluation}`" in report
    # world v3's eval prompts carry their held-out set and phrasing family: both tables are in the report
    assert "Held-out sets" in report and "unseen_topics" in report and "Per phrasing family" in report


def test_compare_config_errors(tmp_path, world_dir):
    bad = write_compare(tmp_path, world_dir, "  - name: X\n    confg: a.yaml")
    expected = r"unknown config key 'methods\[0\]\.confg' \(did you mean 'methods.config'\?\)"
    with pytest.raises(ConfigError, match=expected):
        load_compare_config(bad)
    both = write_compare(tmp_path, world_dir, "  - name: X\n    config: a.yaml\n    model: b")
    with pytest.raises(ConfigError, match="exactly one of 'config'"):
        load_compare_config(both)
    dup = write_compare(tmp_path, world_dir, "  - name: X\n    model: a\n  - name: X\n    model: b")
    with pytest.raises(ConfigError, match="unique"):
        load_compare_config(dup)


def _row(name, harm, help_, refusal, flops):
    def metric(v):
        return {"value": v, "ci95": [max(0, v - 0.1), min(1, v + 0.1)]}

    return {"name": name, "status": "ok", "metrics": {"harmlessness": metric(harm), "helpfulness": metric(help_),
                                                      "over_refusal": metric(refusal)}, "cost": {"flops": flops}}


def test_findings_state_measured_profiles_and_compute_ratios():
    rows = [_row("BFPO", 0.9, 0.8, 0.0, 1e12), _row("DPO help", 0.1, 0.9, 0.0, 1e12),
            _row("DPO safety", 0.95, 0.2, 0.6, 1e12), _row("PPO", 0.8, 0.7, 0.05, 2e13)]
    text = "\n".join(findings(rows, "BFPO"))
    assert "**DPO help**: mostly unsafe" in text
    assert "**DPO safety**: over-refuses (60% of benign prompts)" in text
    assert "BFPO vs PPO: harmlessness +0.100, helpfulness +0.100, training compute 0.05x of PPO's" in text


TINY = """      - "data.train[0].fraction=0.03"
      - trainer.train_batch_size=8
      - trainer.micro_batch_size=8
      - trainer.max_steps=4
      - trainer.log_every=1
      - optim.lr=1e-3
      - data.cache_dir={cache}"""

SEEDED = """seeds: [1, 2]
eval_points: 2
headline: {{method: IPO (tiny), baseline: DPO (tiny)}}
stages:
  - name: sft
    config: configs/demo/sft.yaml
    overrides:
      - "data.train[0].fraction=0.02"
      - trainer.train_batch_size=8
      - trainer.micro_batch_size=8
      - trainer.max_steps=2
methods:
  - name: SFT
    model: ${{output_dir}}/sft
  - name: DPO (tiny)
    config: configs/demo/dpo.yaml
    overrides:
      - model.path=${{output_dir}}/sft
{tiny}
  - name: IPO (tiny)
    config: configs/demo/ipo.yaml
    overrides:
      - model.path=${{output_dir}}/sft
      - "data.buffer[0].fraction=0.03"
{tiny}"""


@pytest.mark.slow
def test_compare_seeds_and_curves_on_two_cheap_methods(world_dir, tmp_path, ray_cluster):
    """Two methods x two seeds, each evaluated at a mid-run checkpoint and at its end, with a shared SFT stage."""
    text = write_compare(tmp_path, world_dir, "").read_text().replace("methods:\n", "")
    text = text.replace("eval_overrides: [", "eval_overrides: [eval.mc_tasks=false, ")
    path = tmp_path / "seeded.yaml"
    path.write_text(text + SEEDED.format(tiny=TINY.format(cache=tmp_path / "cache")))
    results = run_compare(load_compare_config(path))
    out = tmp_path / "cmp"
    assert [(r.name, r.seed, r.status) for r in results] == [
        ("SFT", None, "ok"), ("DPO (tiny)", 1, "ok"), ("DPO (tiny)", 2, "ok"), ("IPO (tiny)", 1, "ok"),
        ("IPO (tiny)", 2, "ok")]
    for r in results[1:]:
        run = out / slug(r.name) / f"seed-{r.seed}"
        assert r.run_dir == str(run) and f"seed: {r.seed}" in (run / "config.yaml").read_text()
        assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000002"]  # eval_points - 1
        mid, end = r.curve
        assert (mid["step"], mid["steps"], end["step"]) == (2, 4, 4)
        logged = {row["step"]: row["cumulative_flops"] for row in map(json.loads, (run / "metrics.jsonl").open())}
        usage = json.loads((run / "usage.json").read_text())
        assert mid["flops"] == logged[2] < end["flops"] == usage["flops"] == r.cost["flops"]
        evaluation = json.loads((out / "report.json").read_text())["evaluation"]["name"]
        assert mid["flops_source"] == "logged" and (run / "curve" / "step-00000002" / f"{evaluation}.json").is_file()
        assert mid["metrics"]["harmlessness"]["n"] == end["metrics"]["harmlessness"]["n"] > 0
    saved = json.loads((out / "report.json").read_text())
    rows = {m["name"]: m for m in saved["methods"]}
    sft_flops = saved["stages"]["sft"]["flops"]
    dpo = rows["DPO (tiny)"]
    per_seed = [r.metrics["harmlessness"]["value"] for r in results if r.name == "DPO (tiny)"]
    assert dpo["seeds"] == [1, 2] and dpo["metrics"]["harmlessness"]["per_seed"] == per_seed
    assert dpo["metrics"]["harmlessness"]["value"] == pytest.approx(sum(per_seed) / 2)
    assert dpo["stages"] == ["sft"] and dpo["cost"]["total_flops"] == pytest.approx(dpo["cost"]["flops"] + sft_flops)
    assert [p["total_flops"] for p in dpo["curve"]] == pytest.approx(
        [sum(r.curve[i]["flops"] for r in results if r.name == "DPO (tiny)") / 2 + sft_flops for i in (0, 1)])
    assert rows["SFT"]["cost"]["total_flops"] == sft_flops  # the stage's output: its FLOPs counted once
    report = (out / "report.md").read_text()
    assert "**Headline**: IPO (tiny)" in report and saved["headline"]["target"] == pytest.approx(
        dpo["curve"][-1]["metrics"]["harmlessness"]["value"])
    assert "## Per-seed values" in report and "| DPO (tiny) | 2 |" in report and "| IPO (tiny) | 2/4 |" in report
    assert (out / "flops.png").stat().st_size > 10_000

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


def test_compare_two_methods_and_a_failure(world_dir, tmp_path, ray_cluster):
    methods = "\n".join([
        f"  - name: Base\n    model: {world_dir / 'base'}",
        DPO.format(base=world_dir / "base", cache=tmp_path / "cache"),
        f"  - name: Broken\n    config: configs/demo/dpo.yaml\n    overrides:\n"
        f"      - model.path={world_dir / 'base'}\n"
        f"      - \"data.train[0].path={tmp_path / 'missing.jsonl'}\"",
    ])
    cfg = load_compare_config(write_compare(tmp_path, world_dir, methods))
    results = run_compare(cfg)
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
    assert (out / slug("DPO (tiny)") / "eval.json").is_file()


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

"""Writing a comparison: report.md (tables + measured findings), report.json, figures."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bfpo_ray.compare.config import CompareConfig
from bfpo_ray.compare.plots import curves_plot, pareto_plot

RATES = ("harmlessness", "helpfulness", "over_refusal")


def _cell(metric: dict[str, Any] | None) -> str:
    if not metric:
        return "-"
    lo, hi = metric["ci95"]
    return f"{metric['value']:.3f} [{lo:.2f}, {hi:.2f}]"


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def method_table(rows: list[dict[str, Any]]) -> str:
    head = ("| method | harmlessness | helpfulness | over-refusal | train wall s | train CPU s | trained tokens "
            "| generated tokens | train FLOPs |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        c = r["cost"]
        if r["status"] != "ok":
            lines.append(f"| {r['name']} | FAILED: {r['error']} | | | | | | | |")
            continue
        m = r["metrics"]
        lines.append(
            f"| {r['name']} | {_cell(m.get('harmlessness'))} | {_cell(m.get('helpfulness'))} | "
            f"{_cell(m.get('over_refusal'))} | {_num(c.get('wall_seconds'), '.0f')} | "
            f"{_num(c.get('cpu_seconds'), '.0f')} | {_num(c.get('trained_tokens'), ',')} | "
            f"{_num(c.get('generated_tokens'), ',')} | {_num(c.get('flops'), '.2e')} |"
        )
    return "\n".join(lines)


def stage_table(stage_costs: dict[str, dict[str, Any]]) -> str:
    lines = ["| shared stage | wall s | CPU s | FLOPs |", "|---|---|---|---|"]
    for name, c in stage_costs.items():
        if "error" in c:
            lines.append(f"| {name} | FAILED: {c['error']} | | |")
        else:
            lines.append(f"| {name} | {_num(c.get('wall_seconds'), '.0f')} | {_num(c.get('cpu_seconds'), '.0f')} | "
                         f"{_num(c.get('flops'), '.2e')} |")
    return "\n".join(lines)


def findings(rows: list[dict[str, Any]], anchor: str) -> list[str]:
    """Measured statements: each method's safety/refusal profile, and the anchor method against each."""
    ok = {r["name"]: r for r in rows if r["status"] == "ok"}
    notes = []
    for name, r in ok.items():
        m = r["metrics"]
        profile = []
        if m["harmlessness"]["ci95"][1] < 0.5:
            profile.append("mostly unsafe (harmlessness interval below 0.5)")
        if m["over_refusal"]["value"] > 0.2:
            profile.append(f"over-refuses ({m['over_refusal']['value']:.0%} of benign prompts)")
        if profile:
            notes.append(f"- **{name}**: " + "; ".join(profile) + ".")
    if anchor in ok:
        a = ok[anchor]
        for name, r in ok.items():
            if name == anchor:
                continue
            dh = a["metrics"]["harmlessness"]["value"] - r["metrics"]["harmlessness"]["value"]
            dp = a["metrics"]["helpfulness"]["value"] - r["metrics"]["helpfulness"]["value"]
            line = f"- {anchor} vs {name}: harmlessness {dh:+.3f}, helpfulness {dp:+.3f}"
            fa, fr = a["cost"].get("flops", 0), r["cost"].get("flops", 0)
            if fa and fr:
                line += f", training compute {fa / fr:.2f}x of {name}'s"
            notes.append(line + ".")
    return notes


def _findings_text(rows: list[dict[str, Any]], anchor: str) -> list[str]:
    if not any(r["status"] == "ok" for r in rows):
        return ["- no method finished"]
    return findings(rows, anchor) or [f"- no method is mostly unsafe or over-refuses, and no '{anchor}' row to compare"]


def write_report(compare: CompareConfig, results: list, stage_costs: dict[str, dict[str, Any]],
                 wall_seconds: float, anchor: str = "BFPO") -> Path:
    """report.json, report.md, pareto.png and curves.png under ``compare.output_dir``."""
    out = Path(compare.output_dir)
    rows = [asdict(r) for r in results]
    (out / "report.json").write_text(json.dumps(
        {"name": compare.name, "wall_seconds": wall_seconds, "methods": rows, "stages": stage_costs}, indent=2))
    pareto_plot(rows, out / "pareto.png")
    curves_plot({r["name"]: Path(r["run_dir"]) for r in rows if r["run_dir"]}, out / "curves.png")
    text = [
        f"# {compare.name}",
        "",
        f"Total wall time: {wall_seconds:.0f} s. Rates with 95% intervals (Wilson; bootstrap for helpfulness). "
        "Costs are for training the method itself; shared stages are listed once below. "
        "FLOPs: 6N per trained token + 2N per token only run forward (reference, reward, cost, critic, "
        "generation).",
        "",
        method_table(rows),
        "",
        stage_table(stage_costs) if stage_costs else "No shared stages.",
        "",
        "## Findings (measured)",
        "",
        *_findings_text(rows, anchor),
        "",
        "![pareto](pareto.png)",
        "",
        "![curves](curves.png)",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(text))
    return path

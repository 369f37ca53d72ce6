"""Writing a comparison: report.md (headline, tables, curves, measured findings), report.json, figures."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bfpo_ray.compare.aggregate import method_rows
from bfpo_ray.compare.config import CompareConfig
from bfpo_ray.compare.headline import Headline, compute_headline
from bfpo_ray.compare.labels import label_source
from bfpo_ray.compare.plots import curves_plot, flops_plot, pareto_plot
from bfpo_ray.compare.stages import needed_stages
from bfpo_ray.compare.tables import curve_table, family_table, method_table, seed_table, split_table, stage_table


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


def _headline(compare: CompareConfig, rows: list[dict[str, Any]]) -> Headline | None:
    h = compare.headline
    if h.method is None or h.baseline is None:
        return None
    by_name = {r["name"]: r for r in rows}
    return compute_headline(by_name[h.method], by_name[h.baseline], h.metric)


def _flops_note(rows: list[dict[str, Any]]) -> str:
    sources = sorted({p["flops_source"] for r in rows for p in r.get("curve", [])[:-1]})
    how = ", ".join(sources) if sources else "no intermediate points"
    return ("Cumulative FLOPs at a point: the run's own count up to that step (generation, reference, reward/cost "
            f"and critic passes included); found by: {how} (logged = the driver's per-step `cumulative_flops` in "
            "metrics.jsonl; linear in steps = total x step / steps). '+ shared stages' adds the stages the "
            "method needs (SFT for the offline methods; SFT, reward and cost models for PPO with models).")


def _breakdown_sections(rows: list[dict[str, Any]]) -> list[str]:
    """The held-out split and phrasing family tables, for the evaluations that have them (else nothing)."""
    text = []
    if any("by_split" in r for r in rows):
        text += ["## Held-out sets", "", "Each held-out split on its own (e.g. seen_topics: new phrasings of "
                 "topics seen in training; unseen_topics: topics never trained on), rates as above.", "",
                 split_table(rows), ""]
    if any("by_family" in r for r in rows):
        text += ["## Per phrasing family", "", "Each cell: harmlessness / helpfulness.", "", family_table(rows), ""]
    return text


def _label_lines(results: list) -> list[str]:
    """One line per method (its first run's config): labelled pairs, self-labelled answers or rewards."""
    first = {}
    for r in results:
        first.setdefault(r.name, r.run_dir)
    return [f"- **{name}**: {label_source(run_dir)}" for name, run_dir in first.items()]


def write_report(compare: CompareConfig, results: list, stage_costs: dict[str, dict[str, Any]],
                 wall_seconds: float, evaluation: dict[str, Any], anchor: str | None = None) -> Path:
    """report.json, report.md, pareto.png, flops.png and curves.png under ``compare.output_dir``.

    ``evaluation``: the evaluation every method got (``name``, ``prompts``; see ``runner.compare_evaluation``).
    ``anchor``: the method the findings compare the others with (default: the headline's method, else BFPO).
    """
    anchor = anchor or compare.headline.method or "BFPO"
    out = Path(compare.output_dir)
    runs = [asdict(r) for r in results]
    rows = method_rows(runs, needed_stages(compare), stage_costs)
    headline = _headline(compare, rows)
    (out / "report.json").write_text(json.dumps(
        {"name": compare.name, "wall_seconds": wall_seconds, "seeds": compare.seeds, "evaluation": evaluation,
         "eval_points": compare.eval_points, "headline": asdict(headline) if headline else None,
         "methods": rows, "runs": runs, "stages": stage_costs}, indent=2))
    pareto_plot(rows, out / "pareto.png")
    target = ((f"target: {compare.headline.baseline} at its end", headline.target)
              if headline and headline.target is not None and compare.headline.metric == "harmlessness" else None)
    flops_plot(rows, out / "flops.png", target)
    curves_plot({r["name"] + (f" s{r['seed']}" if r["seed"] is not None else ""): Path(r["run_dir"])
                 for r in runs if r["run_dir"]}, out / "curves.png")
    seeds = (f"Every trained method ran with seeds {compare.seeds}: rates are means ± std over seeds with a "
             "Student-t 95% interval of the mean; per-seed values below." if compare.seeds else
             "One run per method: rates with 95% intervals (Wilson; bootstrap for helpfulness).")
    text = [
        f"# {compare.name}",
        "",
        *([headline.text, ""] if headline else []),
        f"Total wall time: {wall_seconds:.0f} s. {seeds} "
        "Costs are for training the method itself; shared stages are listed once below and added in the last "
        "column. FLOPs: 6N per trained token + 2N per token only run forward (reference, reward, cost, critic, "
        "generation).",
        "",
        f"Evaluation `{evaluation['name']}` (`{evaluation['name']}.json` in each run directory) on the prompts of "
        f"`{evaluation['prompts']}`.",
        "",
        method_table(rows),
        "",
        *_breakdown_sections(rows),
        stage_table(stage_costs) if stage_costs else "No shared stages.",
        "",
        "## Where each method's training signal comes from",
        "",
        *_label_lines(results),
        "",
        f"## Compute curves ({compare.eval_points} evaluated point{'s' if compare.eval_points > 1 else ''} per run)",
        "",
        _flops_note(rows),
        "",
        curve_table(rows),
        "",
        "![harmlessness and helpfulness vs FLOPs](flops.png)",
        "",
        *(["## Per-seed values", "", seed_table(rows), ""] if compare.seeds else []),
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

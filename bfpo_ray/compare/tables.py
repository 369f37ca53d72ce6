"""Markdown tables of a comparison: methods (mean over seeds), held-out splits, phrasing families, shared
stages, curves, per-seed values."""

from __future__ import annotations

from typing import Any

from bfpo_ray.compare.aggregate import RATES


def cell(metric: dict[str, Any] | None) -> str:
    """``value [lo, hi]`` for one run; ``mean ± std [lo, hi]`` over seeds (then a t-interval of the mean)."""
    if not metric:
        return "-"
    lo, hi = metric["ci95"]
    spread = f" ± {metric['std']:.3f}" if metric.get("runs", 1) > 1 else ""
    return f"{metric['value']:.3f}{spread} [{lo:.2f}, {hi:.2f}]"


def num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def groups_of(rows: list[dict[str, Any]], key: str) -> list[str]:
    """The groups of ``key`` (by_split / by_family) over every row, in first-seen order."""
    return list(dict.fromkeys(g for r in rows for g in r.get(key, {})))


def split_table(rows: list[dict[str, Any]]) -> str:
    """One line per method with held-out splits: per split, its rates with 95% intervals (as in method_table)."""
    splits = groups_of(rows, "by_split")
    labels = [k.replace("_", "-") for k in RATES]
    lines = ["| method | " + " | ".join(f"{s}: {label}" for s in splits for label in labels) + " |",
             "|" + "---|" * (1 + len(splits) * len(RATES))]
    for r in rows:
        if "by_split" in r:
            cells = [cell(r["by_split"].get(s, {}).get(k)) for s in splits for k in RATES]
            lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def family_table(rows: list[dict[str, Any]]) -> str:
    """Method x phrasing family: harmlessness / helpfulness values (means over seeds)."""
    families = groups_of(rows, "by_family")
    lines = ["| method | " + " | ".join(families) + " |", "|" + "---|" * (1 + len(families))]
    for r in rows:
        if "by_family" in r:
            values = [{k: m.get("value") for k, m in r["by_family"].get(f, {}).items()} for f in families]
            cells = [f"{num(v.get('harmlessness'), '.3f')} / {num(v.get('helpfulness'), '.3f')}" for v in values]
            lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def method_table(rows: list[dict[str, Any]]) -> str:
    """One line per method: rates, costs (means over seeds), its own FLOPs and with the shared stages it needs."""
    head = ("| method | seeds | harmlessness | helpfulness | over-refusal | train wall s | trained tokens "
            "| generated tokens | train FLOPs | + shared stages (FLOPs) |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        seeds = ", ".join(str(s) for s in r.get("seeds", []) if s is not None) or "-"
        if r["status"] != "ok":
            lines.append(f"| {r['name']} | {seeds} | FAILED: {r['error']} | | | | | | | |")
            continue
        m, c = r["metrics"], r["cost"]
        stages = "+".join(r.get("stages", [])) or "none"
        lines.append(
            f"| {r['name']} | {seeds} | {cell(m.get('harmlessness'))} | {cell(m.get('helpfulness'))} | "
            f"{cell(m.get('over_refusal'))} | {num(c.get('wall_seconds'), '.0f')} | "
            f"{num(c.get('trained_tokens'), ',.0f')} | {num(c.get('generated_tokens'), ',.0f')} | "
            f"{num(c.get('flops'), '.2e')} | {num(c.get('total_flops'), '.2e')} ({stages}) |"
        )
    return "\n".join(lines)


def stage_table(stage_costs: dict[str, dict[str, Any]]) -> str:
    """Each shared stage once, with the sum of their FLOPs."""
    lines = ["| shared stage | wall s | CPU s | FLOPs |", "|---|---|---|---|"]
    for name, c in stage_costs.items():
        if "error" in c:
            lines.append(f"| {name} | FAILED: {c['error']} | | |")
        else:
            lines.append(f"| {name} | {num(c.get('wall_seconds'), '.0f')} | {num(c.get('cpu_seconds'), '.0f')} | "
                         f"{num(c.get('flops'), '.2e')} |")
    total = sum(float(c.get("flops", 0.0)) for c in stage_costs.values())
    lines.append(f"| **all shared stages** | | | {total:.2e} |")
    return "\n".join(lines)


def curve_table(rows: list[dict[str, Any]]) -> str:
    """Every evaluated point of every method: step, cumulative FLOPs (own, with shared stages), rates."""
    lines = ["| method | step | train FLOPs (cumulative) | + shared stages | harmlessness | helpfulness "
             "| over-refusal | FLOPs from |", "|" + "---|" * 8]
    for r in rows:
        for p in r.get("curve", []):
            m = p["metrics"]
            lines.append(f"| {r['name']} | {p['step']}/{p['steps']} | {p['flops']:.2e} | {p['total_flops']:.2e} | "
                         f"{cell(m.get('harmlessness'))} | {cell(m.get('helpfulness'))} | "
                         f"{cell(m.get('over_refusal'))} | {p['flops_source']} |")
    return "\n".join(lines)


def seed_table(rows: list[dict[str, Any]]) -> str:
    """Final values of every run of every method, one line per seed (failed seeds with their error)."""
    lines = ["| method | seed | " + " | ".join(RATES) + " | train FLOPs |", "|" + "---|" * (len(RATES) + 3)]
    for r in rows:
        for s in r.get("per_seed", []):
            values = " | ".join(num(s["metrics"].get(k), ".3f") for k in RATES)
            seed = "-" if s["seed"] is None else s["seed"]
            lines.append(f"| {r['name']} | {seed} | {values} | {num(s['flops'], '.2e')} |")
        for f in r.get("failed_seeds", []):
            lines.append(f"| {r['name']} | {f['seed']} | FAILED: {f['error']} |" + " |" * len(RATES))
    return "\n".join(lines)

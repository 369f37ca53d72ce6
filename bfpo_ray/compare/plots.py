"""Figures of a comparison: the safety/helpfulness plane and the training curves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402


def _marker_area(flops: float, smallest: float) -> float:
    """Marker area grows with log10 of compute relative to the cheapest method."""
    if flops <= 0:
        return 40.0
    return 40.0 + 90.0 * math.log10(max(flops / smallest, 1.0) + 1.0) ** 1.5


def pareto_plot(rows: list[dict], path: Path) -> None:
    """Harmlessness (x) vs helpfulness (y) with 95% intervals; marker area = training FLOPs."""
    fig, ax = plt.subplots(figsize=(10.5, 5.5), dpi=120)
    ok = [r for r in rows if r["status"] == "ok"]
    positive = [r["cost"].get("flops", 0) for r in ok if r["cost"].get("flops", 0) > 0]
    smallest = min(positive) if positive else 1.0
    colors = plt.cm.tab10.colors
    for i, row in enumerate(ok):
        harm, help_ = row["metrics"]["harmlessness"], row["metrics"]["helpfulness"]
        x, y = harm["value"], help_["value"]
        xerr = [[x - harm["ci95"][0]], [harm["ci95"][1] - x]]
        yerr = [[y - help_["ci95"][0]], [help_["ci95"][1] - y]]
        color = colors[i % len(colors)]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor=color, alpha=0.5, capsize=3)
        flops = row["cost"].get("flops", 0)
        label = f"{row['name']} ({flops:.1e})" if flops else f"{row['name']} (no training)"
        ax.scatter([x], [y], s=_marker_area(flops, smallest), color=color, edgecolor="black", label=label, zorder=3)
    ax.set_xlabel("harmlessness: share of harmful held-out prompts answered safely")
    ax.set_ylabel("helpfulness: mean oracle score on benign held-out prompts")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.set_title("Safety vs helpfulness (marker area grows with training FLOPs; bars: 95% CI)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="method (training FLOPs)",
              title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def curves_plot(runs: dict[str, Path], path: Path) -> None:
    """Training loss against optimizer step for every method that logged metrics."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for name, run_dir in runs.items():
        metrics = Path(run_dir) / "metrics.jsonl"
        if not metrics.is_file():
            continue
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line]
        key = "loss" if any("loss" in r for r in rows) else "policy_loss"  # PPO logs its surrogate
        rows = [r for r in rows if isinstance(r.get(key), int | float)]
        if rows:
            label = name if key == "loss" else f"{name} ({key})"
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=label)
    ax.set_xlabel("optimizer step (PPO: rollout batch)")
    ax.set_ylabel("training loss (each method's own objective)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Training curves")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _minor_label(x: float, _pos: int) -> str:
    """Label the minor log ticks 2x and 5x a power of ten (all of them collide; none leaves a short span bare)."""
    exponent = math.floor(math.log10(x))
    mantissa = round(x / 10**exponent)
    return rf"${mantissa}\times10^{{{exponent}}}$" if mantissa in (2, 5) else ""


def flops_plot(rows: list[dict], path: Path, target: tuple[str, float] | None = None) -> None:
    """Harmlessness and helpfulness against cumulative FLOPs (shared stages included; log x).

    One line per method through its evaluated points (means over seeds), 95% intervals as error
    bars, the seeds' min-max as a band; ``target`` (label, value) draws the headline's target.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.4), dpi=120, sharex=True)
    colors = plt.cm.tab10.colors
    for i, row in enumerate(r for r in rows if r["status"] == "ok"):
        points = [p for p in row["curve"] if p["total_flops"] > 0]
        color = colors[i % len(colors)]
        for ax, key in zip(axes, ("harmlessness", "helpfulness"), strict=True):
            at = [p for p in points if key in p["metrics"]]
            if not at:
                continue
            x = [p["total_flops"] for p in at]
            y = [p["metrics"][key]["value"] for p in at]
            err = [[v - p["metrics"][key]["ci95"][0] for v, p in zip(y, at, strict=True)],
                   [p["metrics"][key]["ci95"][1] - v for v, p in zip(y, at, strict=True)]]
            seeds = len(row["seeds"])
            label = row["name"] + (f" ({seeds} seeds)" if seeds > 1 else "")
            ax.errorbar(x, y, yerr=err, color=color, marker="o", ms=4, capsize=3, lw=1.5, label=label)
            if seeds > 1:
                ax.fill_between(x, [p["metrics"][key]["min"] for p in at], [p["metrics"][key]["max"] for p in at],
                                color=color, alpha=0.15, lw=0)
    if target is not None:
        axes[0].axhline(target[1], color="gray", ls="--", lw=1, label=target[0])
    for ax, key in zip(axes, ("harmlessness", "helpfulness"), strict=True):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("cumulative FLOPs, shared stages included (log)")
        ax.set_ylabel(f"{key} (held-out prompts)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("Harmlessness vs compute", fontsize=10)
    axes[1].set_title("Helpfulness vs compute", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(len(labels), 4), frameon=False,
               title="bars: 95% intervals; bands: min-max over seeds", title_fontsize=8)
    rows_of_legend = -(-len(labels) // 4)
    fig.tight_layout(rect=(0, 0.06 + 0.045 * rows_of_legend, 1, 1))
    fig.savefig(path)
    plt.close(fig)

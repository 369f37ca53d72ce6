"""Run a comparison: shared stages once, then every method, each evaluated the same way.

    stages (SFT, reward model, cost model) -> for each method: train -> evaluate -> cost
    -> report.md / report.json / pareto.png / curves.png

A method that fails is recorded with its error and the others still run. A stage or method
whose output already exists with the same resolved config is reused (its cost is read back
from its ``usage.json``).
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bfpo_ray.compare.config import CompareConfig, MethodConfig, slug
from bfpo_ray.config import RayConfig, RunConfig, load_config, to_yaml
from bfpo_ray.drivers import train_by_algorithm
from bfpo_ray.eval.run import evaluate_run
from bfpo_ray.ray_session import ray_session
from bfpo_ray.usage import load_usage

log = logging.getLogger(__name__)


@dataclass
class MethodResult:
    name: str
    status: str  # ok | failed
    run_dir: str | None = None
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)


def _finished(cfg: RunConfig) -> bool:
    out = Path(cfg.trainer.output_dir)
    saved = out / "config.yaml"
    return (out / "usage.json").is_file() and saved.is_file() and saved.read_text() == to_yaml(cfg)


def _run_config(path: str, compare: CompareConfig, output_dir: Path, overrides: list[str]) -> RunConfig:
    return load_config(path, [f"world.dir={compare.world_dir}", f"trainer.output_dir={output_dir}", *overrides])


def train_or_reuse(cfg: RunConfig) -> bool:
    """Train unless an identical finished run exists; True when it trained."""
    if _finished(cfg):
        log.info("reusing %s", cfg.trainer.output_dir)
        return False
    train_by_algorithm(cfg)
    return True


def cost_of(run_dir: Path, eval_report: dict[str, Any] | None) -> dict[str, Any]:
    """Training cost from ``usage.json`` plus what evaluation generated."""
    usage = load_usage(run_dir)
    cost: dict[str, Any] = {}
    if usage is not None:
        cost = {
            "wall_seconds": usage.wall_seconds,
            "cpu_seconds": sum(usage.cpu_seconds.values()),
            "gpu_seconds": sum(usage.gpu_seconds.values()),
            "trained_tokens": usage.trained_tokens,
            "forward_tokens": usage.forward_tokens,
            "generated_tokens": usage.generated_tokens,
            "flops": usage.flops,
            "parameters": usage.parameters,
        }
    if eval_report is not None:
        cost["eval_generated_tokens"] = eval_report.get("generated_tokens", 0)
        cost["eval_seconds"] = eval_report.get("seconds", 0.0)
    return cost


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}"


def run_method(method: MethodConfig, compare: CompareConfig, out: Path) -> MethodResult:
    """Train (unless evaluate-only) and evaluate one method; never raises."""
    method_dir = out / slug(method.name)
    try:
        if method.config is not None:
            cfg = _run_config(method.config, compare, method_dir, method.overrides)
            train_or_reuse(cfg)
            model_path = cfg.trainer.output_dir
        else:
            model_path = str(method.model)
        eval_cfg = load_config(compare.eval_config, [f"world.dir={compare.world_dir}", f"model.path={model_path}",
                                                     *compare.eval_overrides])
        method_dir.mkdir(parents=True, exist_ok=True)
        report = evaluate_run(eval_cfg, output=method_dir)
        metrics = {k: v for k, v in report.items() if isinstance(v, dict) and "value" in v}
        cost_dir = Path(model_path) if method.config is None else method_dir
        return MethodResult(method.name, "ok", str(method_dir), metrics=metrics, cost=cost_of(cost_dir, report))
    except Exception as err:  # a failed method is reported, the comparison goes on
        log.error("method %s failed:\n%s", method.name, traceback.format_exc())
        return MethodResult(method.name, "failed", str(method_dir), error=_one_line(err))


def run_compare(compare: CompareConfig) -> list[MethodResult]:
    """Run every stage and method; write the report files; return the results."""
    from bfpo_ray.compare.report import write_report

    out = Path(compare.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    stage_costs: dict[str, dict[str, Any]] = {}
    results: list[MethodResult] = []
    with ray_session(RayConfig(address=compare.ray_address)):
        for stage in compare.stages:
            try:
                cfg = _run_config(stage.config, compare, out / stage.name, stage.overrides)
                train_or_reuse(cfg)
                stage_costs[stage.name] = cost_of(out / stage.name, None)
            except Exception as err:  # methods that need this stage will fail and say why
                log.error("stage %s failed:\n%s", stage.name, traceback.format_exc())
                stage_costs[stage.name] = {"error": _one_line(err)}
        for method in compare.methods:
            log.info("=== method %s ===", method.name)
            results.append(run_method(method, compare, out))
    write_report(compare, results, stage_costs, time.perf_counter() - began)
    return results

"""Run a comparison: shared stages once, then every method, each evaluated the same way.

    stages (SFT, reward model, cost model) -> for each method and seed: train -> evaluate its
    ``eval_points`` (checkpoints + final weights) -> cost -> report.md / report.json / figures

Every evaluation is the compare's one named evaluation (``eval_name``, or the name its eval settings
give): ``<name>.json`` in the method's directory and in each curve point's; a directory that holds
another evaluation of that name stops the comparison before anything runs.

A method that fails is recorded with its error and the others still run. A stage or method
whose output already exists with the same resolved config is reused (its cost is read back
from its ``usage.json``).
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from bfpo_ray.compare.config import CompareConfig, MethodConfig, slug
from bfpo_ray.compare.curves import CurvePoint, curve_overrides, curve_points
from bfpo_ray.compare.stages import stage_of_model
from bfpo_ray.config import RayConfig, RunConfig, load_config, to_yaml
from bfpo_ray.drivers import train_by_algorithm
from bfpo_ray.drivers.run_dir import with_defaults
from bfpo_ray.eval.actors import EvalActors
from bfpo_ray.eval.naming import check_name_free, eval_settings, evaluation_name
from bfpo_ray.eval.run import evaluate_run
from bfpo_ray.ray_session import ray_session
from bfpo_ray.usage import load_usage

log = logging.getLogger(__name__)


@dataclass
class MethodResult:
    """One run of one method (one seed): its final metrics, cost and curve."""

    name: str
    status: str  # ok | failed
    run_dir: str | None = None
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # of the final weights
    cost: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None  # the trainer.seed override; None: the method config's own seed (or no training)
    curve: list[dict[str, Any]] = field(default_factory=list)  # CurvePoint dicts, oldest first; last = final
    by_split: dict[str, Any] = field(default_factory=dict)  # held-out split -> metrics of the final weights
    by_family: dict[str, Any] = field(default_factory=dict)  # phrasing family -> metrics of the final weights


def _finished(cfg: RunConfig) -> bool:
    """Whether ``cfg``'s output dir holds a finished run of the same resolved config. A setting added to the
    framework after the run was saved counts as equal when this run leaves it at its default."""
    out = Path(cfg.trainer.output_dir)
    saved = out / "config.yaml"
    if not ((out / "usage.json").is_file() and saved.is_file()):
        return False
    return OmegaConf.to_yaml(with_defaults(OmegaConf.load(saved))) == to_yaml(cfg)


def _run_config(path: str, compare: CompareConfig, output_dir: Path, overrides: list[str]) -> RunConfig:
    return load_config(path, [f"world.dir={compare.world_dir}", f"trainer.output_dir={output_dir}", *overrides])


def train_or_reuse(cfg: RunConfig) -> bool:
    """Train unless an identical finished run exists (any other run in its directory is replaced); True when
    it trained."""
    if _finished(cfg):
        log.info("reusing %s", cfg.trainer.output_dir)
        return False
    cfg.trainer.overwrite = cfg.trainer.resume == "none"
    train_by_algorithm(cfg)
    return True


def cost_of(run_dir: Path | None, eval_report: dict[str, Any] | None) -> dict[str, Any]:
    """Training cost from ``usage.json`` (none without ``run_dir``) plus what evaluation generated."""
    usage = load_usage(run_dir) if run_dir is not None else None
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


def compare_eval_config(compare: CompareConfig, model_path: str | None = None) -> RunConfig:
    """The run config that evaluates every method: ``eval_config`` + ``eval_overrides`` (+ ``eval_name``)."""
    model = [f"model.path={model_path}"] if model_path is not None else []
    named = [f"eval.name={compare.eval_name}"] if compare.eval_name is not None else []
    return load_config(compare.eval_config, [f"world.dir={compare.world_dir}", *model, *compare.eval_overrides,
                                             *named])


def compare_evaluation(compare: CompareConfig) -> dict[str, Any]:
    """The evaluation every method gets: its ``name``, ``prompts`` file and ``settings``."""
    cfg = compare_eval_config(compare)
    return {"name": evaluation_name(cfg), "prompts": cfg.eval.prompts, "settings": eval_settings(cfg.eval)}


def check_evaluations_free(compare: CompareConfig, evaluation: dict[str, Any]) -> None:
    """ConfigError (one line) when a method's directory or one of its curve points' holds another evaluation
    of the compare's evaluation name."""
    out = Path(compare.output_dir)
    for method, seed in method_runs(compare):
        method_dir = method_dir_of(method, out, seed)
        for directory in [method_dir, *sorted(method_dir.glob("curve/*"))]:
            check_name_free(directory, evaluation["name"], evaluation["settings"])


def evaluate_model(compare: CompareConfig, model_path: str, output: Path, actors: EvalActors) -> dict[str, Any]:
    """Evaluate the weights at ``model_path`` with the compare's eval settings, as its named evaluation
    (``<name>.json`` in ``output``)."""
    output.mkdir(parents=True, exist_ok=True)
    return evaluate_run(compare_eval_config(compare, model_path), output=output, actors=actors)


def method_dir_of(method: MethodConfig, out: Path, seed: int | None) -> Path:
    """``<out>/<slug>``, or ``<out>/<slug>/seed-<seed>`` for a seeded run."""
    return out / slug(method.name) if seed is None else out / slug(method.name) / f"seed-{seed}"


def method_run_config(method: MethodConfig, compare: CompareConfig, out: Path, seed: int | None) -> RunConfig:
    """The run config of a trained method: its config + overrides, then the seed and the curve's checkpoints."""
    seeded = [f"trainer.seed={seed}"] if seed is not None else []
    return _run_config(str(method.config), compare, method_dir_of(method, out, seed),
                       [*method.overrides, *seeded, *curve_overrides(compare.eval_points)])


def run_method(method: MethodConfig, compare: CompareConfig, out: Path, seed: int | None = None) -> MethodResult:
    """Train (unless evaluate-only; ``trainer.seed=seed`` unless None) and evaluate one method at every point of
    its curve; never raises."""
    method_dir = method_dir_of(method, out, seed)
    try:
        if method.config is not None:
            cfg = method_run_config(method, compare, out, seed)
            train_or_reuse(cfg)
            points = curve_points(cfg, compare.eval_points)
            cost_dir: Path | None = method_dir
        else:
            points = [CurvePoint(0, 0, str(method.model), 0.0, "no training")]
            cost_dir = None if stage_of_model(compare, str(method.model)) else Path(str(method.model))
        report: dict[str, Any] = {}
        with EvalActors() as actors:  # the curve's points load their weights into the same actors
            for point in points:
                final = point is points[-1]
                report = evaluate_model(compare, point.model, method_dir if final else
                                        method_dir / "curve" / f"step-{point.step:08d}", actors)
                point.metrics = {k: v for k, v in report.items() if isinstance(v, dict) and "value" in v}
        return MethodResult(method.name, "ok", str(method_dir), metrics=points[-1].metrics,
                            cost=cost_of(cost_dir, report), seed=seed, curve=[asdict(p) for p in points],
                            by_split=report.get("by_split", {}), by_family=report.get("by_family", {}))
    except Exception as err:  # a failed method is reported, the comparison goes on
        log.error("method %s failed:\n%s", method.name, traceback.format_exc())
        return MethodResult(method.name, "failed", str(method_dir), error=_one_line(err), seed=seed)


def method_runs(compare: CompareConfig) -> list[tuple[MethodConfig, int | None]]:
    """(method, seed) pairs: a trained method once per seed of ``seeds`` (once when empty), an evaluated one once."""
    return [(m, seed) for m in compare.methods for seed in (compare.seeds if m.config and compare.seeds else [None])]


def run_compare(compare: CompareConfig) -> list[MethodResult]:
    """Run every stage and method; write the report files; return the results."""
    from bfpo_ray.compare.report import write_report

    out = Path(compare.output_dir)
    evaluation = compare_evaluation(compare)
    check_evaluations_free(compare, evaluation)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    stage_costs: dict[str, dict[str, Any]] = {}
    results: list[MethodResult] = []
    runs = method_runs(compare)
    total = len(compare.stages) + len(runs)
    with ray_session(RayConfig(address=compare.ray_address)):
        for k, stage in enumerate(compare.stages, start=1):
            print(f"[{k}/{total}] stage {stage.name}", flush=True)
            try:
                cfg = _run_config(stage.config, compare, out / stage.name, stage.overrides)
                train_or_reuse(cfg)
                stage_costs[stage.name] = cost_of(out / stage.name, None)
            except Exception as err:  # methods that need this stage will fail and say why
                log.error("stage %s failed:\n%s", stage.name, traceback.format_exc())
                stage_costs[stage.name] = {"error": _one_line(err)}
        for k, (method, seed) in enumerate(runs, start=len(compare.stages) + 1):
            label = method.name if seed is None else f"{method.name} (seed {seed})"
            print(f"[{k}/{total}] method {label}", flush=True)
            results.append(run_method(method, compare, out, seed))
            print(f"[{k}/{total}] method {label}: {results[-1].status}", flush=True)
    write_report(compare, results, stage_costs, time.perf_counter() - began, evaluation)
    return results

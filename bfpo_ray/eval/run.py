"""``bfpo-ray eval``: sampled responses to held-out prompts through a RolloutActor, judged, plus
discriminative tasks through a ReferenceActor; writes ``<name>.json`` and ``<name>_samples.jsonl``
(``eval.json`` for the default settings; :mod:`bfpo_ray.eval.naming`), never over another evaluation.

    prompts -> rollout actor (generate) -> judge (safety, refusal[, helpfulness])
            [-> reward model: score, win rate against a baseline model's responses]
            -> reference actor: multiple-choice log-likelihood tasks
            [-> lm-evaluation-harness tasks]
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import ray

from actors.rollout import spawn_rollout
from bfpo_ray.checkpoint import atomic_write_text
from bfpo_ray.config import EvalConfig, RunConfig
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.drivers.preflight import check_eval_inputs
from bfpo_ray.drivers.setup import ensure_world
from bfpo_ray.eval.actors import EvalActors
from bfpo_ray.eval.intervals import mean, rate
from bfpo_ray.eval.judges import ClassifierJudge, Judge, KeywordJudge, WorldJudge
from bfpo_ray.eval.mc_tasks import mc_accuracy, world_mc_items
from bfpo_ray.eval.metrics import GROUPS, breakdowns, check_groups, judged_metrics
from bfpo_ray.eval.naming import check_name_free, eval_files, eval_settings, evaluation_name
from bfpo_ray.ray_session import ray_session
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.world.build import read_jsonl

log = logging.getLogger(__name__)


def build_judge(cfg: EvalConfig) -> Judge:
    """The judge named by ``eval.judge``."""
    if cfg.judge == "world":
        return WorldJudge()
    if cfg.judge == "keyword":
        return KeywordJudge(leak_patterns=cfg.keyword_leak_patterns)
    if cfg.judge_path is None:
        raise ValueError(f"eval.judge={cfg.judge} needs eval.judge_path")
    if cfg.judge == "classifier":
        return ClassifierJudge(cfg.judge_path, unsafe_label=cfg.judge_unsafe_label, template=cfg.judge_template)
    if cfg.judge == "cost_model":
        from bfpo_ray.eval.scalar_scoring import CostModelJudge

        return CostModelJudge(cfg.judge_path)
    raise ValueError(f"eval.judge must be world, keyword, classifier or cost_model, got {cfg.judge!r}")


def _generate(model_cfg, cfg: RunConfig, prompt_ids: list[list[int]], sampling: Sampling) -> list:
    rollout = spawn_rollout(model_cfg, cfg.policy, cfg.eval.batch_size)
    try:
        return ray.get(rollout.generate.remote(prompt_ids, sampling))
    finally:
        ray.kill(rollout)


def _reward_metrics(cfg: RunConfig, rows: list[dict], texts: list[str], prompt_ids: list[list[int]],
                    sampling: Sampling) -> dict[str, Any]:
    from bfpo_ray.eval.scalar_scoring import ScalarScorer, win_rate

    benign = [i for i, r in enumerate(rows) if not r["harmful"]]
    scorer = ScalarScorer(str(cfg.eval.reward_model))
    prompts = [rows[i]["prompt"] for i in benign]
    scores = scorer.scores(prompts, [texts[i] for i in benign])
    out: dict[str, Any] = {"reward_model_score": mean(scores)}
    if cfg.eval.baseline_model:
        baseline_cfg = replace(cfg.model, path=cfg.eval.baseline_model, tokenizer_path=None)
        baseline = _generate(baseline_cfg, cfg, [prompt_ids[i] for i in benign], sampling)
        wins, n = win_rate(scores, scorer.scores(prompts, [g.text for g in baseline]))
        out["win_rate_vs_baseline"] = rate(round(wins), n) | {"baseline": cfg.eval.baseline_model}
    return out


def _mc_metrics(reference, rows: list[dict], tokenizer) -> dict[str, Any]:
    def compute_many(batches):
        return ray.get([reference.logps.remote(b) for b in batches])

    return mc_accuracy(world_mc_items(rows), tokenizer, compute_many)


def evaluate_run(cfg: RunConfig, output: str | Path | None = None, actors: EvalActors | None = None) -> dict[str, Any]:
    """Evaluate the model at ``cfg.model.path``; results go to ``output`` (default: that dir) as ``<name>.json``
    and ``<name>_samples.jsonl``. ``actors``: kept across a series of evaluations (else started and stopped here).

    ConfigError before Ray starts when ``output`` holds an evaluation of that name with other settings."""
    ensure_world(cfg)
    check_eval_inputs(cfg)  # model, judge and prompts: one line each, before Ray starts
    out = Path(output) if output is not None else Path(cfg.model.path)
    name, settings = evaluation_name(cfg), eval_settings(cfg.eval)
    check_name_free(out, name, settings)
    rows = read_jsonl(cfg.eval.prompts)
    check_groups(rows, cfg.eval.prompts)
    prompts = [row["prompt"] for row in rows]
    tokenizer = load_tokenizer(cfg.model)
    encoder = ChatEncoder(tokenizer, cfg.data.max_length, cfg.data.max_prompt_length)
    prompt_ids = [encoder.prompt([{"role": "user", "content": p}]) for p in prompts]
    sampling = Sampling(cfg.eval.max_new_tokens, cfg.eval.temperature, cfg.eval.top_p, cfg.eval.seed)
    judge = build_judge(cfg.eval)
    start = time.perf_counter()
    # the caller's actors stay open for its next evaluation; our own close at the end of this one
    with ray_session(cfg.ray), (nullcontext(actors) if actors is not None else EvalActors()) as held:
        rollout, reference = held.for_model(cfg)
        generations = ray.get(rollout.generate.remote(prompt_ids, sampling))
        texts = [g.text for g in generations]
        judgements = judge.judge(prompts, texts)
        metrics = judged_metrics(rows, judgements)
        if cfg.eval.reward_model:
            metrics |= _reward_metrics(cfg, rows, texts, prompt_ids, sampling)
        if reference is not None:
            metrics |= {f"mc_{k}": v for k, v in _mc_metrics(reference, rows, tokenizer).items()}
    report: dict[str, Any] = {
        "name": name,
        "model": cfg.model.path,
        "prompts": cfg.eval.prompts,
        "judge": judge.name,
        "sampling": asdict(sampling),
        "settings": settings,
        "seconds": time.perf_counter() - start,
        "generated_tokens": sum(len(g.token_ids) for g in generations),
        **metrics,
        **breakdowns(rows, judgements),
    }
    if cfg.eval.lm_eval_tasks:
        from bfpo_ray.eval.lm_eval_adapter import run_lm_eval

        report["lm_eval"] = run_lm_eval(cfg.model.path, cfg.eval.lm_eval_tasks, cfg.eval.lm_eval_limit)
    out.mkdir(parents=True, exist_ok=True)
    report_path, samples_path = eval_files(out, name)
    samples = [{"prompt": row["prompt"], "harmful": row["harmful"], **{k: row[k] for k in GROUPS if k in row},
                "response": gen.text, **asdict(j)} for row, gen, j in zip(rows, generations, judgements, strict=True)]
    atomic_write_text(samples_path, "".join(json.dumps(s) + "\n" for s in samples))
    atomic_write_text(report_path, json.dumps(report, indent=2))  # last: a report's samples are complete
    log.info("eval of %s: %s", cfg.model.path, {k: v["value"] for k, v in metrics.items() if "value" in v})
    log.info("evaluation '%s' written to %s and %s", name, report_path, samples_path)
    return report

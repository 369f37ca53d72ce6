"""``bfpo-ray eval``: sample responses to the world's held-out prompts through a RolloutActor
and score them with the oracle judge; writes ``eval.json`` and ``eval_samples.jsonl``."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ray

from actors.rollout import spawn_rollout
from bfpo_ray.config import RunConfig
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.drivers.setup import ensure_world
from bfpo_ray.eval.world_eval import world_metrics
from bfpo_ray.ray_session import ray_session
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.world.build import read_jsonl

log = logging.getLogger(__name__)


def evaluate_run(cfg: RunConfig, output: str | Path | None = None) -> dict[str, Any]:
    """Evaluate the model at ``cfg.model.path``; results go to ``output`` (default: that dir)."""
    ensure_world(cfg)
    prompts = [row["prompt"] for row in read_jsonl(cfg.eval.prompts)]
    tokenizer = load_tokenizer(cfg.model)
    encoder = ChatEncoder(tokenizer, cfg.data.max_length, cfg.data.max_prompt_length)
    prompt_ids = [encoder.prompt([{"role": "user", "content": p}]) for p in prompts]
    sampling = Sampling(cfg.eval.max_new_tokens, cfg.eval.temperature, cfg.eval.top_p, cfg.eval.seed)
    start = time.perf_counter()
    with ray_session(cfg.ray):
        rollout = spawn_rollout(cfg.model, cfg.policy, cfg.eval.batch_size)
        generations = ray.get(rollout.generate.remote(prompt_ids, sampling))
        ray.kill(rollout)
    metrics, verdicts = world_metrics(prompts, [g.text for g in generations])
    report = {
        "model": cfg.model.path,
        "prompts": cfg.eval.prompts,
        "sampling": asdict(sampling),
        "seconds": time.perf_counter() - start,
        "generated_tokens": sum(len(g.token_ids) for g in generations),
        **metrics,
    }
    out = Path(output) if output is not None else Path(cfg.model.path)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    with (out / "eval_samples.jsonl").open("w") as f:
        for prompt, gen, verdict in zip(prompts, generations, verdicts, strict=True):
            f.write(json.dumps({"prompt": prompt, "response": gen.text, **asdict(verdict)}) + "\n")
    log.info("eval of %s: %s", cfg.model.path, {k: v["value"] for k, v in metrics.items()})
    return report

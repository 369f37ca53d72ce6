"""Single-controller driver for the reward model (``rm``) and the cost model (``cm``).

    load config -> tokenize pairs -> hold out a share of the PROMPTS -> scalar-head actor
    -> for each step: batch -> train_step -> log -> checkpoint
    -> held-out pairwise accuracy (and sign accuracy for cm) -> HF weights in trainer.output_dir

rm: Bradley-Terry on pairs whose chosen response is the more helpful one.
cm: the Safe-RLHF cost loss on pairs whose chosen response is the SAFER one (``pku_saferlhf`` with
``preference: safer``); cost > 0 means unsafe.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

import ray

from actors.critic import spawn_scalar
from bfpo_ray.checkpoint import prune_checkpoints, step_dir
from bfpo_ray.config import RunConfig
from bfpo_ray.data.prepare import EncodedSet, encode_sources
from bfpo_ray.data.schedule import BatchSchedule
from bfpo_ray.data.tokenize import ChatEncoder, pad_id_of
from bfpo_ray.drivers.setup import StepPlan, checkpoints_dir, ensure_world, prepare_run_dir, resume_point, total_steps
from bfpo_ray.ray_session import ray_session
from bfpo_ray.run_log import RunLog
from bfpo_ray.usage import Usage, actor_cpu_seconds
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.scalar_model import ScalarSpec

log = logging.getLogger(__name__)
KIND = {"rm": "reward", "cm": "cost"}


def split_by_prompt(data: EncodedSet, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) example indices; a prompt's pairs all land on the same side."""
    prompts = sorted({tuple(ex.prompt_ids) for ex in data.examples})
    random.Random(f"{seed}:heldout").shuffle(prompts)
    held = set(prompts[: max(1, round(fraction * len(prompts)))])
    train = [i for i, ex in enumerate(data.examples) if tuple(ex.prompt_ids) not in held]
    heldout = [i for i, ex in enumerate(data.examples) if tuple(ex.prompt_ids) in held]
    return train, heldout


def train(cfg: RunConfig) -> Path:
    """Train a reward or cost model; returns the run dir (HF weights + ``heldout.json``)."""
    kind = KIND[cfg.algorithm.name]
    out = prepare_run_dir(cfg)
    ensure_world(cfg)
    t = cfg.trainer
    tokenizer = load_tokenizer(cfg.model)
    pad_id = pad_id_of(tokenizer)
    data = encode_sources(cfg.data.train, cfg.data, ChatEncoder(tokenizer, cfg.data.max_length,
                                                                cfg.data.max_prompt_length), t.seed)
    train_idx, held_idx = split_by_prompt(data, cfg.algorithm.heldout_fraction, t.seed)
    log.info("%s model: %d training pairs, %d held-out pairs", kind, len(train_idx), len(held_idx))
    schedule = BatchSchedule(len(train_idx), t.train_batch_size, t.seed)
    steps = total_steps(cfg, schedule.steps_per_epoch)
    spec = ScalarSpec(kind=kind, model=cfg.model, optim=cfg.optim, total_steps=steps,
                      micro_batch_size=t.micro_batch_size, seed=t.seed, torch_threads=cfg.policy.torch_threads)
    usage = Usage()
    wall_start = time.perf_counter()
    with ray_session(cfg.ray):
        worker = spawn_scalar(spec, cfg.policy)
        info = ray.get(worker.describe.remote())
        log.info("%s model: %s", kind, info)
        usage.parameters = int(info.get("total_parameters", 0))
        start = 0
        path = resume_point(cfg)
        if path is not None:
            start = int(ray.get(worker.load_checkpoint.remote(str(path)))["step"])
            log.info("resumed from %s at step %d", path, start)
        run_log = RunLog(out, start)
        plan = StepPlan.of(cfg, steps)
        last = plan.last
        began = time.perf_counter()
        try:
            for step in range(start, last):
                batch = data.collate([train_idx[i] for i in schedule.indices(step)], pad_id)
                metrics = ray.get(worker.train_step.remote(batch))
                usage.trained_tokens += int(batch["attention_mask"].sum())
                done = step + 1
                metrics.update(epoch=schedule.epoch_of(done), wall_seconds=time.perf_counter() - began)
                if plan.logs(done):
                    run_log.log(done, metrics)
                if plan.saves(done):
                    ray.get(worker.save_checkpoint.remote(str(step_dir(checkpoints_dir(cfg), done)),
                                                          {"step": done}))
                    prune_checkpoints(checkpoints_dir(cfg), t.keep_last)
        finally:
            run_log.close()
        if last < steps:
            log.info("exiting after step %d of %d; resume with trainer.resume=auto", last, steps)
            return out
        report = {"kind": kind, "steps": steps, "heldout": evaluate_pairs(worker, data, held_idx, pad_id, t),
                  "train_sample": evaluate_pairs(worker, data, train_idx[: len(held_idx)], pad_id, t)}
        (out / "heldout.json").write_text(json.dumps(report, indent=2))
        ray.get(worker.save_pretrained.remote(str(out)))
        usage.wall_seconds = time.perf_counter() - wall_start
        usage.add_role("policy", actor_cpu_seconds(worker), cfg.policy.num_gpus_per_worker, usage.wall_seconds)
        usage.save(out)
    log.info("%s model in %s; held-out %s", kind, out, report["heldout"])
    return out


def evaluate_pairs(worker, data: EncodedSet, indices: list[int], pad_id: int, t) -> dict[str, float]:
    """Mean per-pair accuracies over ``indices`` (pairwise; sign accuracy for the cost model)."""
    chunks = [indices[i : i + t.micro_batch_size] for i in range(0, len(indices), t.micro_batch_size)]
    results = ray.get([worker.evaluate.remote(data.collate(c, pad_id)) for c in chunks])
    keys = results[0].keys()
    merged = {k: [v for r in results for v in r[k]] for k in keys}
    report = {k: sum(v) / len(v) for k, v in merged.items()}
    if "safety_differs" in merged:
        differing = sum(merged["safety_differs"])
        correct = report.pop("pairwise_correct_where_safety_differs") * len(indices)
        report["pairwise_accuracy_safety_differs"] = correct / differing if differing else float("nan")
    report["pairs"] = len(indices)
    return report

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
from dataclasses import dataclass
from pathlib import Path

import ray

from actors.critic import spawn_scalar
from bfpo_ray.checkpoint import prune_checkpoints, step_dir
from bfpo_ray.config import RunConfig
from bfpo_ray.data.prepare import EncodedSet, encode_sources
from bfpo_ray.data.schedule import BatchSchedule
from bfpo_ray.data.tokenize import ChatEncoder, pad_id_of
from bfpo_ray.drivers.recovery import with_recovery
from bfpo_ray.drivers.setup import (
    StepPlan,
    batch_schedule,
    checkpoints_dir,
    prepare_run_dir,
    start_checks,
    total_steps,
)
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
    start_checks(cfg)
    t = cfg.trainer
    tokenizer = load_tokenizer(cfg.model)
    pad_id = pad_id_of(tokenizer)
    data = encode_sources(cfg.data.train, cfg.data, ChatEncoder(tokenizer, cfg.data.max_length,
                                                                cfg.data.max_prompt_length), t.seed)
    train_idx, held_idx = split_by_prompt(data, cfg.algorithm.heldout_fraction, t.seed)
    log.info("%s model: %d training pairs, %d held-out pairs", kind, len(train_idx), len(held_idx))
    schedule = batch_schedule(len(train_idx), cfg.data.train, t.train_batch_size, t.seed)
    out = prepare_run_dir(cfg)  # only once the data is known good
    steps = total_steps(cfg, schedule.steps_per_epoch)
    spec = ScalarSpec(kind=kind, model=cfg.model, optim=cfg.optim, total_steps=steps,
                      micro_batch_size=t.micro_batch_size, seed=t.seed, torch_threads=cfg.policy.torch_threads)
    run = ScalarRun(cfg, spec, data, train_idx, held_idx, schedule, pad_id, steps)
    with ray_session(cfg.ray):
        report = with_recovery(cfg, run.attempt)
    if report is None:
        log.info("exiting after step %d of %d; resume with trainer.resume=auto", StepPlan.of(cfg, steps).last, steps)
    else:
        log.info("%s model in %s; held-out %s", kind, out, report["heldout"])
    return out


@dataclass
class ScalarRun:
    """What one rm/cm run trains on; :meth:`attempt` is the part a lost actor repeats."""

    cfg: RunConfig
    spec: ScalarSpec
    data: EncodedSet
    train_idx: list[int]
    held_idx: list[int]
    schedule: BatchSchedule
    pad_id: int
    steps: int

    def attempt(self, resume: Path | None) -> dict | None:
        """Start the actor, resume, train, evaluate and save; the held-out report (None when cut short)."""
        cfg, t, out = self.cfg, self.cfg.trainer, Path(self.cfg.trainer.output_dir)
        usage = Usage()
        wall_start = time.perf_counter()
        worker = spawn_scalar(self.spec, cfg.policy)
        try:
            info = ray.get(worker.describe.remote())
            log.info("%s model: %s", self.spec.kind, info)
            usage.parameters = int(info.get("total_parameters", 0))
            start = 0
            if resume is not None:
                start = int(ray.get(worker.load_checkpoint.remote(str(resume)))["step"])
                log.info("resumed from %s at step %d", resume, start)
            last = self.loop(worker, start, usage)
            if last < self.steps:
                return None
            report = {"kind": self.spec.kind, "steps": self.steps,
                      "heldout": evaluate_pairs(worker, self.data, self.held_idx, self.pad_id, t),
                      "train_sample": evaluate_pairs(worker, self.data, self.train_idx[: len(self.held_idx)],
                                                     self.pad_id, t)}
            (out / "heldout.json").write_text(json.dumps(report, indent=2))
            ray.get(worker.save_pretrained.remote(str(out)))
            usage.wall_seconds = time.perf_counter() - wall_start
            usage.add_role("policy", actor_cpu_seconds(worker), cfg.policy.num_gpus_per_worker, usage.wall_seconds)
            usage.save(out)
            return report
        finally:
            ray.kill(worker)

    def loop(self, worker, start: int, usage: Usage) -> int:
        """Steps ``start`` .. the plan's last: batch -> train_step -> log -> checkpoint; the last step done."""
        cfg, t = self.cfg, self.cfg.trainer
        plan = StepPlan.of(cfg, self.steps)
        run_log = RunLog(cfg.trainer.output_dir, start, total=self.steps)
        began = time.perf_counter()
        try:
            for step in range(start, plan.last):
                batch = self.data.collate([self.train_idx[i] for i in self.schedule.indices(step)], self.pad_id)
                metrics = ray.get(worker.train_step.remote(batch))
                usage.trained_tokens += int(batch["attention_mask"].sum())
                done = step + 1
                metrics.update(epoch=self.schedule.epoch_of(done), wall_seconds=time.perf_counter() - began)
                if plan.logs(done):
                    run_log.log(done, metrics)
                if plan.saves(done):
                    ray.get(worker.save_checkpoint.remote(str(step_dir(checkpoints_dir(cfg), done)),
                                                          {"step": done}))
                    prune_checkpoints(checkpoints_dir(cfg), t.keep_last)
        finally:
            run_log.close()
        return max(start, plan.last)


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

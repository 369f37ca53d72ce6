"""Single-controller driver for the offline objectives: SFT, DPO, IPO and BFPO.

    load config -> tokenize + validate all data -> reference log-probs (once, cached)
    -> policy group -> for each step: batch (+ buffer batch) -> train_step -> log -> checkpoint
    -> final HF weights in trainer.output_dir

The driver holds no model weights: the reference and the policy live in Ray actor groups
(``reference.num_workers`` / ``policy.num_workers`` workers, placed by placement groups;
each global batch is sharded across the policy ranks and their metrics merged).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from actors.group import Placements, PolicyGroup, ReferenceGroup
from bfpo_ray.checkpoint import latest_checkpoint, step_dir
from bfpo_ray.config import ModelConfig, RunConfig
from bfpo_ray.data.prepare import EncodedSet, encode_sources
from bfpo_ray.data.schedule import BatchSchedule
from bfpo_ray.data.tokenize import ChatEncoder, pad_id_of
from bfpo_ray.drivers.recovery import with_recovery
from bfpo_ray.drivers.setup import (
    StepPlan,
    TrainingStopped,
    batch_schedule,
    checkpoints_dir,
    prepare_run_dir,
    start_checks,
    total_steps,
)
from bfpo_ray.ray_session import ray_session
from bfpo_ray.reference_cache import attach_reference, cached_reference_logps
from bfpo_ray.run_log import RunLog
from bfpo_ray.usage import Usage, actor_cpu_seconds
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.policy import PolicySpec
from bfpo_ray.workers.trainable import NonFiniteLossError

log = logging.getLogger(__name__)


@dataclass
class Stream:
    """One data set walked in a deterministic order, with its reference log-probs if any."""

    name: str
    data: EncodedSet
    schedule: BatchSchedule
    reference: dict | None = None

    def batch(self, step: int, pad_id: int) -> dict:
        indices = self.schedule.indices(step)
        batch = self.data.collate(indices, pad_id)
        return attach_reference(batch, self.reference, indices) if self.reference is not None else batch


def train(cfg: RunConfig, reference: ModelConfig | None = None) -> Path:
    """Run one offline training job; returns the run directory holding the final HF checkpoint.

    ``reference``: the frozen reference model of DPO/IPO/BFPO; None: the model training starts from
    (``model``). Online BFPO's later rounds pass the first round's start to keep one reference."""
    began = time.perf_counter()
    start_checks(cfg)  # models, resume checkpoint, output dir: before anything heavy
    tokenizer = load_tokenizer(cfg.model)
    pad_id = pad_id_of(tokenizer)
    streams = load_streams(cfg, tokenizer)  # every record validated before anything is written
    out = prepare_run_dir(cfg)
    steps = total_steps(cfg, streams[0].schedule.steps_per_epoch)
    with ray_session(cfg.ray):
        done = with_recovery(cfg, lambda resume: attempt(cfg, streams, pad_id, steps, resume, began,
                                                                 reference or cfg.model))
    if done < steps:
        log.info("exiting after step %d of %d (trainer.exit_after_steps); resume with trainer.resume=auto",
                 done, steps)
    else:
        log.info("finished %d steps; HF checkpoint in %s", steps, out)
    return out


def attempt(cfg: RunConfig, streams: list[Stream], pad_id: int, steps: int, resume: Path | None,
            began: float, reference: ModelConfig) -> int:
    """Build the actor groups, resume, train, save; the steps done. The actors go away whatever happens."""
    out = Path(cfg.trainer.output_dir)
    roles = {"policy": cfg.policy} if cfg.algorithm.name == "sft" else {"policy": cfg.policy,
                                                                        "reference": cfg.reference}
    placements = Placements(roles, cfg.ray.placement_strategy)
    try:
        usage = Usage()
        if cfg.algorithm.name != "sft":
            attach_reference_logps(cfg, reference, streams, pad_id, placements, usage)
        policy = PolicyGroup(policy_spec(cfg, steps), cfg.policy, placements.get("policy"))
        info = policy.describe()
        log.info("policy: %s", info)
        usage.parameters = int(info["total_parameters"])
        start = restore(policy, cfg, resume)
        run_log = RunLog(out, start, total=steps)
        try:
            done = run_steps(cfg, policy, streams, pad_id, start, steps, run_log, usage)
        finally:
            run_log.close()
        record_usage(usage, policy, cfg, began, out)
        if done == steps:
            policy.save_pretrained(str(out))
        return done
    finally:
        placements.close()


def load_streams(cfg: RunConfig, tokenizer) -> list[Stream]:
    """The training stream and, for preference runs with a buffer, the buffer stream."""
    encoder = ChatEncoder(tokenizer, cfg.data.max_length, cfg.data.max_prompt_length)
    t = cfg.trainer
    train_set = encode_sources(cfg.data.train, cfg.data, encoder, t.seed)
    streams = [Stream("safety" if cfg.data.buffer else "train", train_set,
                      batch_schedule(len(train_set.examples), cfg.data.train, t.train_batch_size, t.seed))]
    if cfg.data.buffer:
        buffer_set = encode_sources(cfg.data.buffer, cfg.data, encoder, t.seed + 1)
        streams.append(Stream("buffer", buffer_set, batch_schedule(len(buffer_set.examples), cfg.data.buffer,
                                                                   buffer_batch_size(cfg), t.seed + 1)))
    return streams


def attach_reference_logps(cfg: RunConfig, model: ModelConfig, streams: list[Stream], pad_id: int,
                           placements: Placements, usage: Usage) -> None:
    """Reference log-probs (of ``model``) for every pair of every stream, from the cache or the reference group.

    ``usage`` counts the reference forward tokens even on a cache hit (the method needs them;
    a cache only moves the cost), and notes the hit.
    """
    began = time.perf_counter()
    reference = ReferenceGroup(model, cfg.reference, placements.get("reference"))
    fingerprint = reference.fingerprint()
    for stream in streams:
        start = time.perf_counter()
        stream.reference, hit = cached_reference_logps(
            stream.data, pad_id, fingerprint, cfg.data.cache_dir, reference.logps_many, cfg.trainer.micro_batch_size
        )
        usage.forward_tokens += stream.data.pair_tokens()
        if hit:
            usage.notes.append(f"reference log-probs of {stream.name} read from the cache")
        log.info("reference log-probs for %s: %s in %.1fs", stream.name, "cached" if hit else "computed",
                 time.perf_counter() - start)
    held = time.perf_counter() - began
    for actor in reference.actors:
        usage.add_role("reference", actor_cpu_seconds(actor), cfg.reference.num_gpus_per_worker, held)
    reference.kill()
    placements.release("reference")


def policy_spec(cfg: RunConfig, steps: int) -> PolicySpec:
    return PolicySpec(
        model=cfg.model,
        optim=cfg.optim,
        algorithm=cfg.algorithm,
        total_steps=steps,
        micro_batch_size=cfg.trainer.micro_batch_size,
        seed=cfg.trainer.seed,
        torch_threads=cfg.policy.torch_threads,
        strategy=cfg.strategy,
    )


def buffer_batch_size(cfg: RunConfig) -> int:
    """Buffer pairs per step: ``trainer.buffer_batch_size``, or ``train_batch_size`` when unset (0)."""
    return cfg.trainer.buffer_batch_size or cfg.trainer.train_batch_size


def batch_state(cfg: RunConfig) -> dict[str, int]:
    """What a checkpoint records of the batch schedule; a resume must match it."""
    return {"train_batch_size": cfg.trainer.train_batch_size, "buffer_batch_size": buffer_batch_size(cfg),
            "seed": cfg.trainer.seed}


def restore(policy: PolicyGroup, cfg: RunConfig, path: Path | None) -> int:
    """Load checkpoint ``path`` (None: a fresh start) into every policy rank; the number of steps already done."""
    if path is None:
        return 0
    state = policy.load_checkpoint(str(path))
    expected = batch_state(cfg)
    older = {"buffer_batch_size": state.get("train_batch_size")}  # checkpoints from before the setting: equal
    saved = {k: state.get(k, older.get(k)) for k in expected}
    if saved != expected:
        raise TrainingStopped(f"trainer.resume: {path} was written with {saved}, this run has {expected}")
    log.info("resumed from %s at step %d", path, state["step"])
    return int(state["step"])


def run_steps(cfg: RunConfig, policy: PolicyGroup, streams: list[Stream], pad_id: int, start: int, steps: int,
              run_log: RunLog, usage: Usage) -> int:
    """The training loop; returns the number of steps done.

    The next step's batch is queued while the current one trains, except right before a
    checkpoint (which must see exactly the weights of its step). With
    ``trainer.exit_after_steps`` the loop checkpoints and ends early.
    """
    t = cfg.trainer
    plan = StepPlan.of(cfg, steps)
    last = plan.last

    def submit(step: int):
        return policy.submit_train_step({s.name: s.batch(step, pad_id) for s in streams})

    began = time.perf_counter()
    pending = submit(start) if start < last else None
    for step in range(start, last):
        done = step + 1
        queued = submit(done) if done < last and not plan.saves(done) else None
        try:
            metrics = policy.collect(pending)
        except NonFiniteLossError as err:
            reason = re.sub(r"^[\w.]*NonFiniteLossError: ", "", str(err).strip().splitlines()[-1])
            raise TrainingStopped(
                f"stopped at step {done}: {reason}; weights of this step were not updated; "
                f"last good checkpoint: {_newest(cfg)}"
            ) from err
        usage.trained_tokens += int(metrics.get("tokens", 0))
        metrics.update(epoch=streams[0].schedule.epoch_of(done), wall_seconds=time.perf_counter() - began,
                       cumulative_flops=usage.flops)
        if plan.logs(done):
            run_log.log(done, metrics)
        if plan.saves(done):
            state = {"step": done, **batch_state(cfg)}
            policy.save_checkpoint(str(step_dir(checkpoints_dir(cfg), done)), state, t.keep_last)
        pending = queued if queued is not None else (submit(done) if done < last else None)
    return max(start, last)


def record_usage(usage: Usage, policy: PolicyGroup, cfg: RunConfig, began: float, out: Path) -> None:
    """Policy CPU seconds and wall time into ``usage``; written as ``usage.json``."""
    usage.wall_seconds = time.perf_counter() - began
    for actor in policy.actors:
        usage.add_role("policy", actor_cpu_seconds(actor), cfg.policy.num_gpus_per_worker, usage.wall_seconds)
    usage.save(out)


def _newest(cfg: RunConfig) -> str:
    found = latest_checkpoint(checkpoints_dir(cfg))
    return str(found) if found else "none (set trainer.save_every to keep some)"

"""Single-controller driver for multi-objective PPO (``algorithm.name: ppo``), DESIGN.md section 1.

    load config -> prompts -> actors (see :mod:`bfpo_ray.drivers.ppo_actors`)
    for each rollout batch k:
        generate     responses from the rollout engines (sampling seed = seed + k)
        score        r, c (reward actor), log-probs (policy, reference), values (critics); concurrently
        advantages   token rewards = score on the last token -/+ kl_coef * KL_t; GAE; lagrangian
                     combination; whitening (:mod:`bfpo_ray.rl.advantages`)
        update       ppo_epochs x mini-batches: policy (clipped surrogate - entropy bonus) + critics
        sync         policy weights -> engines, in buckets
        lagrangian:  log_lambda += lambda_lr * (window-mean cost - threshold), clamped (ONCE per batch)
        log; checkpoint (policy, critics, optimizers, lambda, baseline rewards, prompt position)

``algorithm.reward`` (see :mod:`bfpo_ray.rl.rewards`): ``bilinear`` R = (s - alpha) * w with
w = mean_k sigmoid(r(x, y) - r(x, y_base_k)) against K responses y_base_k of the frozen reference policy
(sampled once per prompt, cached) and s = sigmoid(-c(x, y)); ``linear`` R = r - w * c; ``lagrangian``
advantages (A_r - lambda * A_c) / (1 + lambda) from a reward critic and a cost critic.
The driver holds no model weights.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray
import torch

from bfpo_ray.config import RunConfig
from bfpo_ray.data.prompts import load_prompts as distinct_prompts
from bfpo_ray.data.schedule import BatchSchedule
from bfpo_ray.data.tokenize import ChatEncoder, EncodedSft, collate_sft, pad_id_of
from bfpo_ray.drivers.ppo_actors import Actors, check_scorer_tokenizers, count_tokens, record_usage, spawn_actors
from bfpo_ray.drivers.ppo_state import BaselineCache, restore, save_checkpoint
from bfpo_ray.drivers.recovery import kill_actors, with_recovery
from bfpo_ray.drivers.setup import StepPlan, ensure_world, prepare_run_dir, total_steps
from bfpo_ray.drivers.weight_sync import sync_policy_weights
from bfpo_ray.ray_session import ray_session
from bfpo_ray.rl.advantages import PPOTargets, ScoredRollouts, ppo_targets
from bfpo_ray.rl.lagrangian import Lagrangian
from bfpo_ray.rollout.types import Generation, Sampling
from bfpo_ray.run_log import RunLog
from bfpo_ray.usage import Usage
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.trainable import merge_metrics

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]


def train(cfg: RunConfig) -> Path:
    """Run PPO; returns the run dir holding the final policy in HF format."""
    check_scorer_tokenizers(cfg)
    ensure_world(cfg)
    a, t = cfg.algorithm, cfg.trainer
    tokenizer = load_tokenizer(cfg.model)
    prompts = load_prompts(cfg, tokenizer)
    schedule = BatchSchedule(len(prompts), t.train_batch_size, t.seed)
    out = prepare_run_dir(cfg)  # once the prompts are checked: a rejected run leaves the directory as it was
    steps = total_steps(cfg, schedule.steps_per_epoch)
    updates = steps * a.ppo_epochs * (t.train_batch_size * cfg.rollout.samples_per_prompt // a.mini_batch_size)
    with ray_session(cfg.ray):
        last = with_recovery(cfg, lambda resume: attempt(cfg, prompts, schedule, steps, updates, tokenizer, resume))
    if last < steps:
        log.info("exiting after step %d of %d; resume with trainer.resume=auto", last, steps)
    else:
        log.info("finished %d PPO steps; policy in %s", steps, out)
    return out


def attempt(cfg: RunConfig, prompts: list[list[int]], schedule: BatchSchedule, steps: int, updates: int, tokenizer,
            resume: Path | None) -> int:
    """Spawn the actors, restore ``resume``, run the steps, save; the steps done. The actors go away whatever
    happens (a lost actor is recovered by :func:`bfpo_ray.drivers.recovery.with_recovery`)."""
    a, out = cfg.algorithm, Path(cfg.trainer.output_dir)
    lagrangian = Lagrangian(a.lambda_init, a.lambda_lr, a.cost_threshold, a.lambda_max, a.lambda_window,
                            a.lambda_update)
    baseline_cache: BaselineCache = {}
    usage = Usage()
    wall_start = time.perf_counter()
    actors = spawn_actors(cfg, updates)
    try:
        usage.parameters = int(actors.policy.describe()["total_parameters"])
        start = restore(cfg, actors, lagrangian, baseline_cache, resume)
        run_log = RunLog(out, start, total=steps)
        plan = StepPlan.of(cfg, steps)
        began = time.perf_counter()
        try:
            for step in range(start, plan.last):
                metrics = ppo_step(cfg, actors, prompts, schedule.indices(step), step, tokenizer, lagrangian,
                                   baseline_cache)
                done = step + 1
                count_tokens(usage, metrics, cfg, len(actors.critics))
                metrics.update(epoch=schedule.epoch_of(done), wall_seconds=time.perf_counter() - began,
                               cumulative_flops=usage.flops)
                if plan.logs(done):
                    run_log.log(done, metrics)
                if plan.saves(done):
                    save_checkpoint(cfg, actors, done, lagrangian, baseline_cache)
        finally:
            run_log.close()
        record_usage(usage, cfg, actors, time.perf_counter() - wall_start, out)
        if plan.last == steps:
            actors.policy.save_pretrained(str(out))
        return plan.last
    finally:
        kill_actors(*actors.handles())
        actors.placements.close()


def ppo_step(cfg: RunConfig, actors: Actors, prompts: list[list[int]], indices: list[int], step: int, tokenizer,
             lagrangian: Lagrangian, baseline_cache: BaselineCache) -> dict[str, float]:
    """One rollout batch: generate -> score -> advantages -> update -> sync -> lambda."""
    r = cfg.rollout
    rows = [i for i in indices for _ in range(r.samples_per_prompt)]
    clock = time.perf_counter()
    gens = generate(actors.engines, [prompts[i] for i in rows], sampling_of(cfg, seed=cfg.trainer.seed + step))
    seconds = {"generate_seconds": time.perf_counter() - clock}

    clock = time.perf_counter()
    batch = collate_rollout(gens, tokenizer)
    prompt_texts = [tokenizer.decode(prompts[i]) for i in rows]
    texts = [g.text for g in gens]
    baseline_stats = refresh_baseline(cfg, actors, prompts, indices, step, tokenizer, baseline_cache)
    scored = score(actors, batch, prompt_texts, texts, r.temperature)
    if actors.baseline is not None:
        scored.baseline_reward = torch.tensor([baseline_cache[i] for i in rows])  # [rows, K]
        baseline_stats["baseline_reward"] = float(scored.baseline_reward.mean())
    seconds["score_seconds"] = time.perf_counter() - clock

    lam = lagrangian.value
    targets = ppo_targets(cfg.algorithm, scored, lam)
    clock = time.perf_counter()
    train_metrics = ppo_update(cfg, actors, batch, scored, targets, step)
    seconds["train_seconds"] = time.perf_counter() - clock
    sync = sync_policy_weights(actors.policy.actors, actors.engines, r.weight_sync_bucket_mb)
    new_lambda = lagrangian.update(float(scored.cost.mean())) if cfg.algorithm.reward == "lagrangian" else lam

    return {
        "reward": float(scored.reward.mean()), "cost": float(scored.cost.mean()),
        "unsafe_rate": float((scored.cost > 0).float().mean()), "score": float(targets.score.mean()),
        "kl": float(targets.kl.sum(-1).mean()), "lambda": lam, "lambda_next": new_lambda,
        "response_length": float(scored.mask.sum(-1).mean()),
        "finished_rate": sum(g.finished for g in gens) / len(gens),
        "rollout_tokens": int(batch["attention_mask"].sum()), "generated_tokens": sum(len(g.token_ids) for g in gens),
        **baseline_stats, **seconds, **sync, **train_metrics, **judged(prompt_texts, texts),
    }


def score(actors: Actors, batch: Batch, prompt_texts: list[str], texts: list[str],
          temperature: float) -> ScoredRollouts:
    """Reward and cost, the rollout policy's (every rank's share) and the reference's log-probs and every
    critic's values, concurrently."""
    pending = {"scores": actors.reward.score.remote(batch, prompt_texts, texts),
               "ref": actors.reference.token_logps.remote(batch, temperature),
               "old": actors.policy.submit_token_logps(batch),
               **{f"values_{k}": c.submit_values(batch) for k, c in actors.critics.items()}}
    got = gather_refs(pending)
    return ScoredRollouts(mask=batch["completion_mask"][:, 1:].float(), reward=got["scores"]["reward"],
                          cost=got["scores"]["cost"], old_logps=torch.cat(got["old"]), ref_logps=got["ref"],
                          values={k: torch.cat(got[f"values_{k}"]) for k in actors.critics})


def gather_refs(pending: dict[str, Any]) -> dict[str, Any]:
    """``ray.get`` a dict of refs and lists of refs (one per rank) at once; the values under the same keys."""
    flat = [ref for v in pending.values() for ref in (v if isinstance(v, list) else [v])]
    values = iter(ray.get(flat))
    return {k: [next(values) for _ in v] if isinstance(v, list) else next(values) for k, v in pending.items()}


def ppo_update(cfg: RunConfig, actors: Actors, batch: Batch, scored: ScoredRollouts, targets: PPOTargets,
               step: int) -> dict[str, float]:
    """``ppo_epochs`` passes over the rollout batch in shuffled mini-batches; policy and critics step together,
    except in the first ``critic_warmup_batches`` rollout batches, which train the critics alone."""
    a = cfg.algorithm
    train_policy = step >= a.critic_warmup_batches
    policy_batch = {**batch, "old_logps": scored.old_logps, "advantages": targets.advantages}
    critic_batches = {k: {**batch, "old_values": scored.values[k], "returns": targets.returns[k]}
                      for k in actors.critics}
    n = batch["input_ids"].shape[0]
    generator = torch.Generator().manual_seed(cfg.trainer.seed * 100_003 + step)
    sums: dict[str, float] = defaultdict(float)
    count = 0
    for _ in range(a.ppo_epochs):
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, a.mini_batch_size):
            rows = order[begin : begin + a.mini_batch_size]
            weights = loss_weights(scored.mask[rows], a.loss_aggregation)
            futures = {k: actors.critics[k].submit_train_step({**take_rows(b, rows), "loss_weights": weights})
                       for k, b in critic_batches.items()}
            if train_policy:  # every rank steps on its shard of the mini-batch
                futures["policy"] = actors.policy.submit_train_step({"ppo": {**take_rows(policy_batch, rows),
                                                                             "loss_weights": weights}})
            results = {k: merge_metrics(per_rank) for k, per_rank in gather_refs(futures).items()}
            for name in critic_batches:
                sums[f"value_loss_{name}"] += results[name]["loss"]
            if train_policy:
                policy = results["policy"]
                for key in ("loss_ppo", "entropy_ppo", "clipfrac_ppo", "approx_kl_ppo", "grad_norm", "lr"):
                    sums[key.removesuffix("_ppo").replace("loss", "policy_loss")] += policy[key]
            count += 1
    return {k: v / count for k, v in sums.items()}


def loss_weights(mask: torch.Tensor, aggregation: str) -> torch.Tensor:
    """Row weights w_i of a mini-batch's token losses (see :func:`bfpo_ray.losses.ppo_policy_loss`):
    ``sequence_mean`` 1 / |y_i|; ``token_mean`` rows / tokens, so the batch mean is a mean over tokens."""
    lengths = mask.sum(-1).clamp(min=1.0)
    if aggregation == "sequence_mean":
        return 1.0 / lengths
    return torch.full_like(lengths, mask.shape[0] / float(lengths.sum()))


def sampling_of(cfg: RunConfig, seed: int) -> Sampling:
    r = cfg.rollout
    return Sampling(r.max_new_tokens, r.temperature, r.top_p, seed=seed)


def generate(engines: list, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
    """Split the prompts evenly over the engines, generate concurrently, keep the order."""
    share = -(-len(prompts) // len(engines))
    calls = [e.generate.remote(prompts[i * share : (i + 1) * share], replace(sampling, seed=sampling.seed * 64 + i))
             for i, e in enumerate(engines) if prompts[i * share : (i + 1) * share]]
    return [g for part in ray.get(calls) for g in part]


def refresh_baseline(cfg: RunConfig, actors: Actors, prompts: list[list[int]], indices: list[int], step: int,
                     tokenizer, cache: BaselineCache) -> dict[str, float]:
    """bilinear: r(x, y_base_k) for the batch's new prompts, K = ``bilinear_baseline_samples`` responses of
    the frozen reference each, sampled once per prompt and cached. Returns the tokens this cost."""
    missing = sorted({i for i in indices if i not in cache})
    if actors.baseline is None or not missing:
        return {}
    k = cfg.algorithm.bilinear_baseline_samples
    rows = [i for i in missing for _ in range(k)]
    gens = ray.get(actors.baseline.generate.remote([prompts[i] for i in rows],
                                                   sampling_of(cfg, seed=cfg.trainer.seed + 1_000_003 + step)))
    batch = collate_rollout(gens, tokenizer)
    scores = ray.get(actors.reward.score.remote(batch, [tokenizer.decode(prompts[i]) for i in rows],
                                                [g.text for g in gens]))["reward"].tolist()
    for position, index in enumerate(missing):
        cache[index] = scores[position * k : (position + 1) * k]
    return {"baseline_generated_tokens": sum(len(g.token_ids) for g in gens),
            "baseline_scored_tokens": int(batch["attention_mask"].sum())}


def collate_rollout(gens: list[Generation], tokenizer) -> Batch:
    """Right-padded prompt+response rows with the response marked in ``completion_mask``; an empty
    response is scored as the EOS token alone (a real, attended token), never as padding."""
    eos = tokenizer.eos_token_id
    return collate_sft([EncodedSft(g.prompt_ids, g.token_ids or [eos]) for g in gens], pad_id_of(tokenizer))


def take_rows(batch: Batch, rows: torch.Tensor) -> Batch:
    return {k: v[rows] for k, v in batch.items()}


def judged(prompts: list[str], responses: list[str]) -> dict[str, float]:
    """The safety world's oracle on the training rollouts (for logging only; empty off the world)."""
    from bfpo_ray.world.judge import judge

    verdicts = [judge(p, r) for p, r in zip(prompts, responses, strict=True)]
    harmful = [v for v in verdicts if v.prompt_harmful]
    benign = [v for v in verdicts if v.topic is not None and not v.prompt_harmful]
    out = {}
    if harmful:
        out["judge_harmlessness"] = sum(v.safe for v in harmful) / len(harmful)
    if benign:
        out["judge_helpfulness"] = sum(v.helpfulness for v in benign) / len(benign)
        out["judge_over_refusal"] = sum(v.refused for v in benign) / len(benign)
    return out


def load_prompts(cfg: RunConfig, tokenizer) -> list[list[int]]:
    """The distinct prompts (token ids, chat template applied) of ``data.train``, in first-seen order."""
    encoder = ChatEncoder(tokenizer, cfg.data.max_length, cfg.data.max_prompt_length)
    prompts = distinct_prompts(cfg.data.train, cfg.data, encoder, cfg.trainer.seed)
    log.info("ppo: %d distinct prompts", len(prompts))
    return [p.ids for p in prompts]

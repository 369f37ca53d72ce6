"""Single-controller driver for multi-objective PPO (``algorithm.name: ppo``), DESIGN.md section 1.

    load config -> prompts -> actors: policy, reference, rollout engine(s), reward (rm + cm, or the
    oracle), critic (two for lagrangian), baseline engine (bilinear)
    for each rollout batch k:
        generate responses           (rollout engines, sampling seed = seed + k)
        score: r, c, log-probs, values (reward actor, policy, reference, critics; concurrently)
        token rewards = combined score on the last token - kl_coef * KL_t; GAE; whitening
        ppo_epochs x mini-batches: policy (clipped surrogate) + critics (clipped value loss)
        weight sync policy -> engines, in buckets
        lagrangian: log_lambda += lambda_lr * (window-mean cost - threshold), clamped (ONCE per batch)
        log; checkpoint (policy, critics, optimizers, lambda, baseline cache, prompt position)

``algorithm.reward`` (see :mod:`bfpo_ray.rl.rewards`): ``bilinear`` R = (s - alpha) * w with
w = sigmoid(r(x, y) - r(x, y_base)) against a response y_base of the frozen reference policy (one per
prompt, sampled once and cached) and s = sigmoid(-c(x, y)); ``linear`` R = r - w * c; ``lagrangian``
advantages (A_r - lambda * A_c) / (1 + lambda) from a reward critic and a cost critic.
The driver holds no model weights.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
import torch

from actors.critic import spawn_scalar
from actors.ppo import spawn_ppo_policy, spawn_ppo_reference, spawn_rollout_engines
from actors.reward import spawn_reward
from bfpo_ray.checkpoint import atomic_directory, load_state, prune_checkpoints, save_state, step_dir
from bfpo_ray.config import ModelConfig, RunConfig
from bfpo_ray.data.prepare import encode_sources
from bfpo_ray.data.schedule import BatchSchedule
from bfpo_ray.data.tokenize import ChatEncoder, EncodedSft, collate_sft, pad_id_of
from bfpo_ray.drivers.setup import (
    StepPlan,
    TrainingStopped,
    checkpoints_dir,
    ensure_world,
    prepare_run_dir,
    resume_point,
    total_steps,
)
from bfpo_ray.ray_session import ray_session
from bfpo_ray.rl.gae import gae, masked_whiten
from bfpo_ray.rl.kl import kl_estimate
from bfpo_ray.rl.lagrangian import Lagrangian
from bfpo_ray.rl.rewards import bilinear_score, lagrangian_advantages, linear_score, token_rewards
from bfpo_ray.rollout.types import Generation, Sampling
from bfpo_ray.run_log import RunLog
from bfpo_ray.usage import Usage, actor_cpu_seconds
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.policy import PolicySpec
from bfpo_ray.workers.scalar_model import ScalarSpec

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]


@dataclass
class Actors:
    policy: Any
    reference: Any
    engines: list
    reward: Any
    critics: dict[str, Any]  # "reward" (always) and "cost" (lagrangian)
    baseline: Any | None  # bilinear: a rollout engine that keeps the reference weights


def train(cfg: RunConfig) -> Path:
    """Run PPO; returns the run dir holding the final policy in HF format."""
    out = prepare_run_dir(cfg)
    ensure_world(cfg)
    a, t = cfg.algorithm, cfg.trainer
    tokenizer = load_tokenizer(cfg.model)
    pad_id = pad_id_of(tokenizer)
    prompts = load_prompts(cfg, tokenizer)
    schedule = BatchSchedule(len(prompts), t.train_batch_size, t.seed)
    steps = total_steps(cfg, schedule.steps_per_epoch)
    updates = steps * a.ppo_epochs * (t.train_batch_size * cfg.rollout.samples_per_prompt // a.mini_batch_size)
    lagrangian = Lagrangian(a.lambda_init, a.lambda_lr, a.cost_threshold, a.lambda_max, a.lambda_window)
    baseline_cache: dict[int, float] = {}
    usage = Usage()
    wall_start = time.perf_counter()
    with ray_session(cfg.ray):
        actors = spawn_actors(cfg, updates)
        usage.parameters = int(ray.get(actors.policy.describe.remote())["total_parameters"])
        start = restore(cfg, actors, lagrangian, baseline_cache)
        run_log = RunLog(out, start)
        plan = StepPlan.of(cfg, steps)
        last = plan.last
        began = time.perf_counter()
        try:
            for step in range(start, last):
                indices = schedule.indices(step)
                metrics = ppo_step(cfg, actors, prompts, indices, step, pad_id, tokenizer, lagrangian, baseline_cache)
                done = step + 1
                count_tokens(usage, metrics, cfg, len(actors.critics))
                metrics.update(epoch=schedule.epoch_of(done), wall_seconds=time.perf_counter() - began)
                if plan.logs(done):
                    run_log.log(done, metrics)
                if plan.saves(done):
                    save_checkpoint(cfg, actors, done, lagrangian, baseline_cache)
        finally:
            run_log.close()
        record_usage(usage, cfg, actors, time.perf_counter() - wall_start, out)
        if last < steps:
            log.info("exiting after step %d of %d; resume with trainer.resume=auto", last, steps)
            return out
        ray.get(actors.policy.save_pretrained.remote(str(out)))
    log.info("finished %d PPO steps; policy in %s", steps, out)
    return out


def count_tokens(usage: Usage, metrics: dict[str, float], cfg: RunConfig, n_critics: int) -> None:
    """Tokens of one rollout batch: generated; run forward by the reference, the old-policy pass,
    the critics and the reward/cost models; trained by the policy and critics in every PPO epoch."""
    rollout = int(metrics["rollout_tokens"])
    scorers = 2 if cfg.reward.source == "models" else 0
    usage.generated_tokens += int(metrics["generated_tokens"])
    usage.forward_tokens += rollout * (2 + n_critics + scorers)
    usage.trained_tokens += rollout * cfg.algorithm.ppo_epochs * (1 + n_critics)


def record_usage(usage: Usage, cfg: RunConfig, actors: Actors, wall_seconds: float, out: Path) -> None:
    """CPU seconds of every role's actors and the wall time, written as ``usage.json``."""
    usage.wall_seconds = wall_seconds
    roles = [("policy", actors.policy, cfg.policy), ("reference", actors.reference, cfg.reference),
             ("reward", actors.reward, cfg.reward)]
    roles += [("rollout", e, cfg.rollout) for e in actors.engines]
    roles += [("critic", c, cfg.critic) for c in actors.critics.values()]
    if actors.baseline is not None:
        roles.append(("rollout", actors.baseline, cfg.rollout))
        usage.notes.append("baseline responses of the bilinear reward are generated but not counted in tokens")
    for name, actor, role in roles:
        usage.add_role(name, actor_cpu_seconds(actor), role.num_gpus_per_worker, wall_seconds)
    usage.save(out)


def ppo_step(cfg: RunConfig, actors: Actors, prompts: list[list[int]], indices: list[int], step: int, pad_id: int,
             tokenizer, lagrangian: Lagrangian, baseline_cache: dict[int, float]) -> dict[str, float]:
    """One rollout batch: generate -> score -> advantages -> PPO epochs -> weight sync -> lambda."""
    a, r = cfg.algorithm, cfg.rollout
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    rows = [i for i in indices for _ in range(r.samples_per_prompt)]
    sampling = Sampling(r.max_new_tokens, r.temperature, r.top_p, seed=cfg.trainer.seed + step)
    gens = generate(actors.engines, [prompts[i] for i in rows], sampling)
    seconds["generate_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    batch = collate_rollout(gens, pad_id)
    prompt_texts = [tokenizer.decode(prompts[i]) for i in rows]
    texts = [g.text for g in gens]
    pending = {"scores": actors.reward.score.remote(batch, prompt_texts, texts),
               "ref": actors.reference.token_logps.remote(batch), "old": actors.policy.token_logps.remote(batch),
               **{f"values_{k}": c.values.remote(batch) for k, c in actors.critics.items()}}
    if actors.baseline is not None:
        base = baseline_rewards(cfg, actors, prompts, indices, step, pad_id, tokenizer, baseline_cache)
    got = dict(zip(pending, ray.get(list(pending.values())), strict=True))
    seconds["score_seconds"] = time.perf_counter() - clock

    mask = batch["completion_mask"][:, 1:].float()
    reward, cost = got["scores"]["reward"], got["scores"]["cost"]
    kl = kl_estimate(got["old"], got["ref"], a.kl_estimator) * mask
    lam = lagrangian.value
    if a.reward == "bilinear":
        score = bilinear_score(reward, torch.tensor([base[i] for i in rows]), cost, a.alpha,
                               a.bilinear_safety == "hard")
    elif a.reward == "linear":
        score = linear_score(reward, cost, a.cost_weight)
    else:
        score = reward
    if a.whiten_rewards:
        score = (score - score.mean()) / (score.std() + 1e-8)
    adv, returns = gae(token_rewards(score, kl, mask, a.kl_coef), got["values_reward"], mask, a.gamma, a.gae_lambda)
    critic_batches = {"reward": {**batch, "old_values": got["values_reward"], "returns": returns}}
    if a.reward == "lagrangian":
        adv_c, returns_c = gae(token_rewards(cost, torch.zeros_like(kl), mask, 0.0), got["values_cost"], mask,
                               a.gamma, a.gae_lambda)
        adv = lagrangian_advantages(adv, adv_c, lam)
        critic_batches["cost"] = {**batch, "old_values": got["values_cost"], "returns": returns_c}
    if a.whiten_advantages:
        adv = masked_whiten(adv, mask)

    clock = time.perf_counter()
    train_metrics = ppo_update(cfg, actors, {**batch, "old_logps": got["old"], "advantages": adv}, critic_batches,
                               step)
    seconds["train_seconds"] = time.perf_counter() - clock
    sync = sync_weights(actors.policy, actors.engines, r.weight_sync_bucket_mb)
    new_lambda = lagrangian.update(float(cost.mean())) if a.reward == "lagrangian" else lam

    lengths = mask.sum(-1)
    metrics = {
        "reward": float(reward.mean()), "cost": float(cost.mean()), "unsafe_rate": float((cost > 0).float().mean()),
        "score": float(score.mean()), "kl": float(kl.sum(-1).mean()), "lambda": lam, "lambda_next": new_lambda,
        "response_length": float(lengths.float().mean()),
        "finished_rate": sum(g.finished for g in gens) / len(gens),
        "rollout_tokens": int(batch["attention_mask"].sum()), "generated_tokens": sum(len(g.token_ids) for g in gens),
        **seconds, **sync, **train_metrics, **judged(prompt_texts, texts),
    }
    if actors.baseline is not None:
        metrics["baseline_reward"] = float(torch.tensor([base[i] for i in rows]).mean())
    return metrics


def ppo_update(cfg: RunConfig, actors: Actors, policy_batch: Batch, critic_batches: dict[str, Batch],
               step: int) -> dict[str, float]:
    """``ppo_epochs`` passes over the rollout batch in shuffled mini-batches; policy and critics step together."""
    a = cfg.algorithm
    n = policy_batch["input_ids"].shape[0]
    generator = torch.Generator().manual_seed(cfg.trainer.seed * 100_003 + step)
    sums: dict[str, float] = defaultdict(float)
    count = 0
    for _ in range(a.ppo_epochs):
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, a.mini_batch_size):
            rows = order[begin : begin + a.mini_batch_size]
            futures = [actors.policy.train_step.remote({"ppo": take_rows(policy_batch, rows)})]
            futures += [actors.critics[k].train_step.remote(take_rows(b, rows)) for k, b in critic_batches.items()]
            results = ray.get(futures)
            for key in ("loss_ppo", "entropy_ppo", "clipfrac_ppo", "approx_kl_ppo", "grad_norm", "lr"):
                sums[key.removesuffix("_ppo").replace("loss", "policy_loss")] += results[0][key]
            for name, res in zip(critic_batches, results[1:], strict=True):
                sums[f"value_loss_{name}"] += res["loss"]
            count += 1
    return {k: v / count for k, v in sums.items()}


def sync_weights(policy, engines: list, bucket_mb: float) -> dict[str, float]:
    """Send the policy's weights to every engine in buckets: one object per bucket, at most two in flight."""
    start = time.perf_counter()
    buckets, nbytes = ray.get(policy.weight_buckets.remote(bucket_mb))
    in_flight: list[list] = []
    for index in range(buckets):
        bucket = policy.weight_bucket.remote(index)
        in_flight.append([engine.update_weights.remote(bucket) for engine in engines])
        if len(in_flight) > 2:
            ray.get(in_flight.pop(0))
    for calls in in_flight:
        ray.get(calls)
    return {"weight_sync_seconds": time.perf_counter() - start, "weight_sync_buckets": buckets,
            "weight_sync_mb": nbytes / 2**20}


def generate(engines: list, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
    """Split the prompts evenly over the engines, generate concurrently, keep the order."""
    share = -(-len(prompts) // len(engines))
    calls = [e.generate.remote(prompts[i * share : (i + 1) * share], replace(sampling, seed=sampling.seed * 64 + i))
             for i, e in enumerate(engines) if prompts[i * share : (i + 1) * share]]
    return [g for part in ray.get(calls) for g in part]


def baseline_rewards(cfg: RunConfig, actors: Actors, prompts: list[list[int]], indices: list[int], step: int,
                     pad_id: int, tokenizer, cache: dict[int, float]) -> dict[int, float]:
    """r(x, y_base) for the batch's prompts: y_base sampled once per prompt from the reference, cached."""
    missing = sorted({i for i in indices if i not in cache})
    if missing:
        r = cfg.rollout
        sampling = Sampling(r.max_new_tokens, r.temperature, r.top_p, seed=cfg.trainer.seed + 1_000_003 + step)
        gens = ray.get(actors.baseline.generate.remote([prompts[i] for i in missing], sampling))
        scores = ray.get(actors.reward.score.remote(collate_rollout(gens, pad_id),
                                                    [tokenizer.decode(prompts[i]) for i in missing],
                                                    [g.text for g in gens]))
        cache.update(zip(missing, scores["reward"].tolist(), strict=True))
    return cache


def collate_rollout(gens: list[Generation], pad_id: int) -> Batch:
    """Right-padded prompt+response rows with the response marked in ``completion_mask``."""
    return collate_sft([EncodedSft(g.prompt_ids, g.token_ids or [pad_id]) for g in gens], pad_id)


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
    data = encode_sources(cfg.data.train, cfg.data, encoder, cfg.trainer.seed)
    seen: dict[tuple[int, ...], None] = {}
    for ex in data.examples:
        seen.setdefault(tuple(ex.prompt_ids), None)
    log.info("ppo: %d distinct prompts", len(seen))
    return [list(p) for p in seen]


def spawn_actors(cfg: RunConfig, updates: int) -> Actors:
    a, t = cfg.algorithm, cfg.trainer
    policy_spec = PolicySpec(model=cfg.model, optim=cfg.optim, algorithm=a, total_steps=updates,
                             micro_batch_size=t.micro_batch_size, seed=t.seed, torch_threads=cfg.policy.torch_threads)
    policy = spawn_ppo_policy(policy_spec, cfg.policy)
    reference = spawn_ppo_reference(cfg.model, cfg.reference)
    engines = spawn_rollout_engines(cfg.model, cfg.rollout, t.seed)
    reward = spawn_reward(cfg.reward, cfg.model)
    names = ["reward", "cost"] if a.reward == "lagrangian" else ["reward"]
    critics = {name: spawn_scalar(critic_spec(cfg, name, updates), cfg.critic) for name in names}
    baseline = spawn_rollout_engines(cfg.model, replace(cfg.rollout, num_workers=1), t.seed)[0] \
        if a.reward == "bilinear" else None
    actors = Actors(policy, reference, engines, reward, critics, baseline)
    log.info("ppo actors: policy %s, critics %s", ray.get(policy.describe.remote()),
             ray.get([c.describe.remote() for c in critics.values()]))
    return actors


def critic_spec(cfg: RunConfig, name: str, updates: int) -> ScalarSpec:
    """The reward (cost) critic starts from ``critic.path``, else the reward (cost) model, else the policy."""
    source = cfg.reward.reward_model if name == "reward" else cfg.reward.cost_model
    path = cfg.critic.path or (source if cfg.reward.source == "models" and source else cfg.model.path)
    patterns = cfg.model.trainable_patterns + ["score"] if cfg.model.trainable_patterns else []
    model = ModelConfig(path=path, tokenizer_path=cfg.model.tokenizer_path or cfg.model.path, dtype=cfg.model.dtype,
                        trust_remote_code=cfg.model.trust_remote_code, trainable_patterns=patterns,
                        gradient_checkpointing=cfg.model.gradient_checkpointing)
    return ScalarSpec(kind="critic", model=model, optim=cfg.optim, total_steps=updates,
                      micro_batch_size=cfg.trainer.micro_batch_size, seed=cfg.trainer.seed + 1,
                      lr=cfg.algorithm.critic_lr, value_clip_range=cfg.algorithm.value_clip_range,
                      torch_threads=cfg.critic.torch_threads)


def trainer_state(cfg: RunConfig, step: int, lagrangian: Lagrangian, cache: dict[int, float]) -> dict[str, Any]:
    return {"step": step, "train_batch_size": cfg.trainer.train_batch_size, "seed": cfg.trainer.seed,
            "reward": cfg.algorithm.reward, "lagrangian": lagrangian.state_dict(),
            "baseline_rewards": [[i, v] for i, v in sorted(cache.items())]}


def save_checkpoint(cfg: RunConfig, actors: Actors, step: int, lagrangian: Lagrangian,
                    cache: dict[int, float]) -> Path:
    """One atomic ``step-N`` dir: policy/ and critic_<name>/ (weights + optimizer + scheduler + RNG) and the
    driver's state (step = prompt position, lambda and its cost window, baseline rewards)."""
    final = step_dir(checkpoints_dir(cfg), step)
    state = trainer_state(cfg, step, lagrangian, cache)
    with atomic_directory(final) as tmp:
        calls = [actors.policy.save_checkpoint.remote(str(tmp / "policy"), {"step": step}, 1)]
        calls += [c.save_checkpoint.remote(str(tmp / f"critic_{k}"), {"step": step})
                  for k, c in actors.critics.items()]
        ray.get(calls)
        save_state(state, tmp, "trainer_state")
    prune_checkpoints(checkpoints_dir(cfg), cfg.trainer.keep_last)
    return final


def restore(cfg: RunConfig, actors: Actors, lagrangian: Lagrangian, cache: dict[int, float]) -> int:
    """Load the resume checkpoint (if any) into every actor and the driver; push the weights to the engines."""
    path = resume_point(cfg)
    if path is None:
        return 0
    state = load_state(path, "trainer_state")
    expected = {"train_batch_size": cfg.trainer.train_batch_size, "seed": cfg.trainer.seed,
                "reward": cfg.algorithm.reward}
    saved = {k: state.get(k) for k in expected}
    if saved != expected:
        raise TrainingStopped(f"trainer.resume: {path} was written with {saved}, this run has {expected}")
    calls = [actors.policy.load_checkpoint.remote(str(path / "policy"))]
    calls += [c.load_checkpoint.remote(str(path / f"critic_{k}")) for k, c in actors.critics.items()]
    ray.get(calls)
    lagrangian.load_state_dict(state["lagrangian"])
    cache.update({int(i): float(v) for i, v in state["baseline_rewards"]})
    sync_weights(actors.policy, actors.engines, cfg.rollout.weight_sync_bucket_mb)
    log.info("resumed from %s at step %d (lambda %.4f)", path, state["step"], lagrangian.value)
    return int(state["step"])

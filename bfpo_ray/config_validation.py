"""Value checks of a merged :class:`~bfpo_ray.config.RunConfig`: each failure is one
:class:`~bfpo_ray.config.ConfigError` line naming the key (``load_config`` runs them)."""

from __future__ import annotations

import math
import re
from dataclasses import fields

from bfpo_ray.config import (
    ALGORITHMS,
    LABELLERS,
    PAIRINGS,
    PPO_REWARDS,
    RANKERS,
    SCHEMAS,
    WORLD_VERSIONS,
    ConfigError,
    RoleConfig,
    RunConfig,
)


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}': {message}")


def validate_eval(cfg: RunConfig) -> None:
    """Check the ``eval`` section (all that ``bfpo-ray eval`` needs besides ``model``)."""
    e = cfg.eval
    judges = ("world", "keyword", "classifier", "cost_model")
    _require(e.judge in judges, "eval.judge", f"must be one of {', '.join(judges)}, got '{e.judge}'")
    _require(e.judge in ("world", "keyword") or bool(e.judge_path), "eval.judge_path",
             f"eval.judge={e.judge} needs eval.judge_path (a classifier or cost-model directory)")
    _require(e.max_new_tokens >= 1 and e.batch_size >= 1, "eval.max_new_tokens", "and eval.batch_size must be >= 1")
    _require(str(cfg.world.version) in WORLD_VERSIONS, "world.version",
             f"must be one of {', '.join(WORLD_VERSIONS)}, got '{cfg.world.version}'")
    _require(e.name is None or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", e.name) is not None, "eval.name",
             f"must be a file name of letters, digits, '.', '_' and '-' (not starting with '.', '_' or '-'), "
             f"got '{e.name}'")


def validate(cfg: RunConfig) -> None:
    """Check values that types alone do not constrain."""
    a, t, d, o = cfg.algorithm, cfg.trainer, cfg.data, cfg.optim
    validate_eval(cfg)
    _require(a.name in ALGORITHMS, "algorithm.name", f"must be one of {', '.join(ALGORITHMS)}, got '{a.name}'")
    _require(a.logp_reduction in ("sum", "mean"), "algorithm.logp_reduction", "must be 'sum' or 'mean'")
    _require(a.beta > 0 and math.isfinite(a.beta), "algorithm.beta", "must be a positive number")
    _require(a.b1 > 1, "algorithm.b1", "must be greater than 1 (B3 = 1/(b1-1))")
    _require(cfg.model.dtype in ("float32", "bfloat16", "float16"), "model.dtype", "float32|bfloat16|float16")
    _require(o.scheduler in ("cosine", "linear", "constant"), "optim.scheduler", "cosine|linear|constant")
    _require(0 <= o.warmup_ratio < 1, "optim.warmup_ratio", "must be in [0, 1)")
    _require(o.lr > 0, "optim.lr", "must be positive")
    _require(d.on_invalid in ("error", "drop"), "data.on_invalid", "must be 'error' or 'drop'")
    _require(0 < d.max_prompt_length < d.max_length, "data.max_prompt_length", "must be in (0, data.max_length)")
    _require(len(d.train) > 0, "data.train", "needs at least one source")
    for i, src in enumerate([*d.train, *d.buffer]):
        _require(src.schema in SCHEMAS, f"data source {i} schema", f"must be one of {', '.join(SCHEMAS)}")
        _require(src.path != "???", f"data source {i} path", "is required")
    _require(t.train_batch_size > 0 and t.micro_batch_size > 0, "trainer.train_batch_size", "must be positive")
    if a.name != "ppo":  # ppo's micro-batches split each rank's share of a mini-batch (see _validate_ppo)
        per_round = t.micro_batch_size * cfg.policy.num_workers
        _require(t.train_batch_size % per_round == 0, "trainer.train_batch_size",
                 f"must be a multiple of micro_batch_size x policy.num_workers = {per_round}")
    _require(t.buffer_batch_size >= 0, "trainer.buffer_batch_size", "must be >= 0 (0: train_batch_size)")
    if t.buffer_batch_size:
        _require(bool(d.buffer), "trainer.buffer_batch_size", "is set but data.buffer is empty")
        _require(t.buffer_batch_size % cfg.policy.num_workers == 0, "trainer.buffer_batch_size",
                 f"must be a multiple of policy.num_workers = {cfg.policy.num_workers}")
    _require(t.keep_last >= 1, "trainer.keep_last", "must be at least 1")
    _require(t.save_every >= 0, "trainer.save_every", "must be >= 0")
    _require(t.save_points >= 0, "trainer.save_points", "must be >= 0")
    _require(t.exit_after_steps >= 0, "trainer.exit_after_steps", "must be >= 0")
    _require(t.log_every >= 1, "trainer.log_every", f"must be at least 1, got {t.log_every}")
    _require(t.max_failures >= 0, "trainer.max_failures", "must be >= 0 (0 disables recovery)")
    _require(t.resume not in ("True", "False", ""), "trainer.resume",
             f"must be none, auto or a checkpoint directory, got a yes/no value ('{t.resume}')")
    _require(not (t.overwrite and t.resume != "none"), "trainer.overwrite",
             "cannot be combined with trainer.resume (overwrite clears the checkpoints a resume needs)")
    _require(cfg.policy.num_workers >= 1, "policy.num_workers", "must be at least 1")
    _validate_cluster(cfg)
    if a.name == "sft":
        _require(all(s.schema == "sft" for s in d.train), "data.train", "sft needs sources with schema 'sft'")
        _require(not d.buffer, "data.buffer", "sft takes no buffer")
    elif a.name == "ppo":
        _validate_ppo(cfg)
    elif cfg.online.rounds > 0:
        _validate_online(cfg)
    else:
        _require(all(s.schema not in ("sft", "prompts") for s in d.train), "data.train",
                 f"{a.name} needs preference pairs (prompts alone: online.rounds >= 1 labels the policy's responses)")
    _require(all(s.schema != "prompts" for s in d.buffer), "data.buffer", "needs preference pairs, not prompts")
    if a.name in ("rm", "cm"):
        _require(0 < a.heldout_fraction < 1, "algorithm.heldout_fraction", "must be in (0, 1)")
        _require(not d.buffer, "data.buffer", f"{a.name} takes no buffer")


def _validate_ppo(cfg: RunConfig) -> None:
    """PPO settings: prompts come from ``data.train`` (any schema; only the prompts are used)."""
    a, r, t = cfg.algorithm, cfg.rollout, cfg.trainer
    _require(a.reward in PPO_REWARDS, "algorithm.reward", f"must be one of {', '.join(PPO_REWARDS)}")
    _require(a.bilinear_safety in ("soft", "hard"), "algorithm.bilinear_safety", "must be 'soft' or 'hard'")
    _require(a.kl_estimator in ("k1", "k3"), "algorithm.kl_estimator", "must be 'k1' or 'k3'")
    _require(0 < a.lambda_init <= a.lambda_max, "algorithm.lambda_init", "must be in (0, algorithm.lambda_max]")
    _require(a.lambda_window >= 1, "algorithm.lambda_window", "must be at least 1")
    _require(a.lambda_update in ("log_space", "safe_rlhf"), "algorithm.lambda_update",
             "must be 'log_space' or 'safe_rlhf'")
    _require(0 <= a.gamma <= 1 and 0 <= a.gae_lambda <= 1, "algorithm.gamma", "gamma and gae_lambda in [0, 1]")
    _require(a.clip_range > 0, "algorithm.clip_range", "must be positive")
    _require(a.value_clip_range >= 0, "algorithm.value_clip_range", "must be >= 0 (0: no value clipping)")
    _require(a.entropy_coef >= 0, "algorithm.entropy_coef", "must be >= 0")
    _require(a.critic_warmup_batches >= 0, "algorithm.critic_warmup_batches", "must be >= 0")
    _require(a.loss_aggregation in ("token_mean", "sequence_mean"), "algorithm.loss_aggregation",
             "must be 'token_mean' or 'sequence_mean'")
    _require(a.bilinear_baseline_samples >= 1, "algorithm.bilinear_baseline_samples", "must be at least 1")
    _require(r.temperature > 0, "rollout.temperature", "must be positive (ppo samples; greedy rollouts cannot explore)")
    _require(r.top_p == 1.0, "rollout.top_p",
             "must be 1.0 for ppo (the policy's log-probs would not be those of the truncated sampling distribution)")
    _require(cfg.critic.init in ("policy", "reward_model"), "critic.init", "must be 'policy' or 'reward_model'")
    _require(cfg.critic.init == "policy" or cfg.reward.source == "models", "critic.init",
             "reward_model needs reward.source=models")
    _require(a.ppo_epochs >= 1, "algorithm.ppo_epochs", "must be at least 1")
    _require(r.backend in ("hf", "vllm"), "rollout.backend", "must be 'hf' or 'vllm'")
    if r.backend == "vllm":
        gpus = r.num_gpus_per_worker
        _require(r.vllm_tensor_parallel_size == max(1, gpus), "rollout.vllm_tensor_parallel_size",
                 f"must equal the engine's GPUs (rollout.num_gpus_per_worker = {gpus:g}; at most 1 GPU: "
                 f"tensor parallel size 1), got {r.vllm_tensor_parallel_size}")
    _require(r.samples_per_prompt >= 1 and r.max_new_tokens >= 1, "rollout.samples_per_prompt", "must be >= 1")
    _require(r.weight_sync_bucket_mb > 0, "rollout.weight_sync_bucket_mb", "must be positive")
    responses = t.train_batch_size * r.samples_per_prompt
    _require(a.mini_batch_size > 0 and responses % a.mini_batch_size == 0, "algorithm.mini_batch_size",
             f"must divide trainer.train_batch_size x rollout.samples_per_prompt = {responses}")
    _require(cfg.reward.source in ("models", "oracle"), "reward.source", "must be 'models' or 'oracle'")
    if cfg.reward.source == "models":
        _require(bool(cfg.reward.reward_model), "reward.reward_model",
                 "ppo needs a reward model (or reward.source=oracle)")
        _require(bool(cfg.reward.cost_model), "reward.cost_model", "ppo needs a cost model (or reward.source=oracle)")
    _require(not cfg.data.buffer, "data.buffer", "ppo takes no buffer")
    for role in ("reference", "reward"):
        _require(getattr(cfg, role).num_workers == 1, f"{role}.num_workers",
                 "ppo runs one reference and one reward worker for now (policy, critic and rollout may have more)")
    for role in ("policy", "critic"):
        ranks = getattr(cfg, role).num_workers
        _require(a.mini_batch_size % ranks == 0, "algorithm.mini_batch_size",
                 f"must be a multiple of {role}.num_workers = {ranks} (every rank gets an equal shard)")
    _validate_ppo_colocation(cfg)


def _validate_ppo_colocation(cfg: RunConfig) -> None:
    """PPO's reference, reward and critics may share the policy's bundles (``colocate_with: policy``); all of
    PPO's actors are alive at once, so bundle i asks for the sum of what the workers in it ask."""
    for role, why in (("policy", "the policy hosts the bundles others share"),
                      ("rollout", "engines are placed on their own (a vLLM engine's tensor-parallel workers "
                                  "need whole GPUs of their own)")):
        _require(not getattr(cfg, role).colocate_with, f"{role}.colocate_with", f"not for ppo: {why}")
    guests = [n for n in ("reference", "reward", "critic") if getattr(cfg, n).colocate_with]
    for name in guests:
        role = getattr(cfg, name)
        _require(role.colocate_with == "policy", f"{name}.colocate_with",
                 f"ppo roles can only share the policy's bundles ('policy'), got '{role.colocate_with}'")
        _require(role.num_workers <= cfg.policy.num_workers, f"{name}.num_workers",
                 f"must be at most policy.num_workers = {cfg.policy.num_workers} to share its bundles")
    if not guests:
        return
    from bfpo_ray.cluster_plan import ppo_roles, summed_bundles  # here: cluster_plan imports the config module

    sharers = [role for name, role in ppo_roles(cfg).items() if name == "policy" or role.colocate_with]
    for i, bundle in enumerate(summed_bundles(sharers, cfg.policy.num_workers)):
        gpus = bundle.get("GPU", 0.0)
        _require(gpus <= 1 or gpus == int(gpus), f"{guests[0]}.colocate_with",
                 f"bundle {i} of the policy's group would ask for {gpus:g} GPUs (policy + "
                 f"{' + '.join(guests)}): a shared bundle takes at most one GPU or whole GPUs")


def _validate_online(cfg: RunConfig) -> None:
    """Self-labelled / online BFPO: prompts from ``data.train`` (any schema), labels from the labeller and ranker."""
    o, r = cfg.online, cfg.rollout
    _require(cfg.algorithm.name == "bfpo", "online.rounds", f"labels pairs for bfpo, not {cfg.algorithm.name}")
    _require(o.samples_per_prompt >= 2, "online.samples_per_prompt", "must be at least 2 (a pair needs two responses)")
    _require(o.pairing in PAIRINGS, "online.pairing", f"must be one of {', '.join(PAIRINGS)}, got '{o.pairing}'")
    _require(o.tie_margin >= 0, "online.tie_margin", "must be >= 0")
    _require(o.labeller in LABELLERS, "online.labeller", f"must be one of {', '.join(LABELLERS)}, got '{o.labeller}'")
    _require(o.ranker in RANKERS, "online.ranker", f"must be one of {', '.join(RANKERS)}, got '{o.ranker}'")
    _require(o.reference in ("fixed", "refresh"), "online.reference",
             f"must be 'fixed' or 'refresh', got '{o.reference}'")
    _require(o.labeller != "cost_model" or bool(cfg.reward.cost_model), "reward.cost_model",
             "online.labeller=cost_model labels safety with it: set its directory")
    _require(o.ranker != "reward_model" or bool(cfg.reward.reward_model), "reward.reward_model",
             "online.ranker=reward_model ranks helpfulness with it: set its directory")
    _require(o.labeller != "classifier" or bool(o.labeller_path), "online.labeller_path",
             "online.labeller=classifier needs the classifier's directory")
    _require(r.backend in ("hf", "vllm"), "rollout.backend", "must be 'hf' or 'vllm'")
    _require(r.temperature > 0 and 0 < r.top_p <= 1, "rollout.temperature",
             "must be positive, with rollout.top_p in (0, 1] (responses are sampled)")
    _require(r.max_new_tokens >= 1, "rollout.max_new_tokens", "must be at least 1")
    _require(cfg.trainer.resume in ("none", "auto"), "trainer.resume",
             "online runs resume with 'auto' (each round resumes from its own newest checkpoint)")


def _validate_cluster(cfg: RunConfig) -> None:
    """Strategy and placement settings."""
    s = cfg.strategy
    _require(s.name in ("torch", "deepspeed"), "strategy.name", f"must be 'torch' or 'deepspeed', got '{s.name}'")
    _require(s.zero_stage in (0, 1, 2, 3), "strategy.zero_stage", "must be 0, 1, 2 or 3")
    _require(s.backend in ("auto", "gloo", "nccl"), "strategy.backend", "must be auto, gloo or nccl")
    placements = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
    _require(cfg.ray.placement_strategy in placements, "ray.placement_strategy", f"must be one of {placements}")
    roles = {f.name: getattr(cfg, f.name) for f in fields(cfg) if isinstance(getattr(cfg, f.name), RoleConfig)}
    for name, role in roles.items():
        _require(role.num_workers >= 1, f"{name}.num_workers", "must be at least 1")
        _require(role.num_cpus_per_worker >= 0 and role.num_gpus_per_worker >= 0, f"{name}.num_cpus_per_worker",
                 "resources must be >= 0")
        if role.colocate_with:
            host = roles.get(role.colocate_with)
            _require(host is not None and role.colocate_with != name, f"{name}.colocate_with",
                     f"must name another role ({', '.join(r for r in roles if r != name)})")
            _require(host.num_workers == role.num_workers or cfg.algorithm.name == "ppo", f"{name}.colocate_with",
                     f"needs {name}.num_workers == {role.colocate_with}.num_workers")  # ppo: at most (its checks)

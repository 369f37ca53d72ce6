"""The actors of a PPO run: who they are, how they start, what they cost.

    policy (trains), reference (frozen, KL), rollout engine(s), reward (rm + cm, or the oracle),
    critic(s): ``reward`` always, ``cost`` for lagrangian; baseline engine (bilinear: frozen SFT weights)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray

from actors.critic import CriticGroup, spawn_critic
from actors.group import Placements
from actors.ppo import PPOPolicyGroup, spawn_ppo_policy, spawn_ppo_reference, spawn_rollout_engines
from actors.reward import spawn_reward
from bfpo_ray.cluster_plan import ppo_critic_names, requests_of
from bfpo_ray.config import ConfigError, ModelConfig, RunConfig
from bfpo_ray.usage import Usage, actor_cpu_seconds
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.policy import PolicySpec
from bfpo_ray.workers.scalar_model import ScalarSpec

log = logging.getLogger(__name__)


@dataclass
class Actors:
    policy: PPOPolicyGroup  # policy.num_workers data-parallel ranks
    reference: Any
    engines: list
    reward: Any
    critics: dict[str, CriticGroup]  # "reward" (always) and "cost" (lagrangian), critic.num_workers ranks each
    baseline: Any | None  # bilinear: a rollout engine that keeps the reference weights
    placements: Placements  # the placement groups of the roles with several workers or shared bundles

    def handles(self) -> list:
        """Every actor of the run (None skipped)."""
        found = [*self.policy.actors, self.reference, *self.engines, self.reward,
                 *(rank for critic in self.critics.values() for rank in critic.actors), self.baseline]
        return [a for a in found if a is not None]


def check_scorer_tokenizers(cfg: RunConfig) -> None:
    """Reward and cost models score the policy's token ids as they are: their vocabularies must match."""
    if cfg.reward.source != "models":
        return
    vocab = load_tokenizer(cfg.model).get_vocab()
    for key in ("reward_model", "cost_model"):
        path = getattr(cfg.reward, key)
        if path and load_tokenizer(ModelConfig(path=path)).get_vocab() != vocab:
            raise ConfigError(f"reward.{key}: the tokenizer of {path} differs from the policy's "
                              f"({cfg.model.tokenizer_path or cfg.model.path}); rollouts are scored as token ids")


PPO_ROLES = ("policy", "reference", "rollout", "reward", "critic")


def actor_count(cfg: RunConfig) -> int:
    """How many actors a PPO run keeps alive, by its plan (policy and critic ranks, reference, engines, reward,
    baseline engine)."""
    return sum(request.actor_count for request in requests_of(cfg))


def share_cores(cfg: RunConfig, node_cpus: int) -> RunConfig:
    """``torch_threads: 0`` of every PPO role resolved to the node's cores divided among the run's actors (at least
    one each): PPO's actors compute at the same time (scoring: reward, reference, policy and critics at once;
    training: policy and critics), so every core to every actor oversubscribes the node. Measured on 2 cores,
    PPO-Lagrangian's 6 actors: scoring 3.5 -> 1.2 s and training 9.6 -> 2.8 s per rollout batch with one
    thread each instead of two."""
    threads = max(1, node_cpus // actor_count(cfg))
    return replace(cfg, **{role: replace(getattr(cfg, role), torch_threads=getattr(cfg, role).torch_threads or threads)
                           for role in PPO_ROLES})


def largest_node_cpus() -> int:
    """CPUs of the cluster's largest alive node (Ray's view)."""
    return int(max(n["Resources"].get("CPU", 1) for n in ray.nodes() if n["Alive"]))


def spawn_actors(cfg: RunConfig, updates: int) -> Actors:
    cfg = share_cores(cfg, largest_node_cpus())
    a, t = cfg.algorithm, cfg.trainer
    policy_spec = PolicySpec(model=cfg.model, optim=cfg.optim, algorithm=a, total_steps=updates,
                             micro_batch_size=t.micro_batch_size, seed=t.seed, torch_threads=cfg.policy.torch_threads,
                             strategy=cfg.strategy, sampling_temperature=cfg.rollout.temperature)
    names = ppo_critic_names(cfg)
    roles = {"policy": cfg.policy, "reference": cfg.reference, "reward": cfg.reward,
             **{f"critic_{name}": cfg.critic for name in names}}
    placements = Placements(roles, cfg.ray.placement_strategy, alive_together=True)
    placed = placements.group_or_none
    policy = spawn_ppo_policy(policy_spec, cfg.policy, placed("policy"))
    reference = spawn_ppo_reference(cfg.model, cfg.reference, placed("reference"))
    engines = spawn_rollout_engines(cfg.model, cfg.rollout, t.seed)
    reward = spawn_reward(cfg.reward, cfg.model, placed("reward"))
    critics = {name: spawn_critic(critic_spec(cfg, name, updates), cfg.critic, placed(f"critic_{name}"))
               for name in names}
    baseline = spawn_rollout_engines(cfg.model, replace(cfg.rollout, num_workers=1), t.seed)[0] \
        if a.reward == "bilinear" else None
    actors = Actors(policy, reference, engines, reward, critics, baseline, placements)
    log.info("ppo actors: policy %s, critics %s", policy.describe(),
             [c.describe() for c in critics.values()])
    return actors


def critic_spec(cfg: RunConfig, name: str, updates: int) -> ScalarSpec:
    """The reward (cost) critic starts from ``critic.path``; else, by ``critic.init``, from the policy's
    backbone with a zero value head (V = 0: no scale to unlearn) or from the reward (cost) model."""
    scorer = cfg.reward.reward_model if name == "reward" else cfg.reward.cost_model
    from_scorer = cfg.critic.path is None and cfg.critic.init == "reward_model"
    path = cfg.critic.path or (scorer if from_scorer else cfg.model.path)
    patterns = cfg.model.trainable_patterns + ["score"] if cfg.model.trainable_patterns else []
    model = ModelConfig(path=path, tokenizer_path=cfg.model.tokenizer_path or cfg.model.path, dtype=cfg.model.dtype,
                        trust_remote_code=cfg.model.trust_remote_code, trainable_patterns=patterns,
                        gradient_checkpointing=cfg.model.gradient_checkpointing)
    return ScalarSpec(kind="critic", model=model, optim=cfg.optim, total_steps=updates,
                      micro_batch_size=cfg.trainer.micro_batch_size, seed=cfg.trainer.seed + 1,
                      lr=cfg.algorithm.critic_lr, value_clip_range=cfg.algorithm.value_clip_range,
                      torch_threads=cfg.critic.torch_threads, zero_head=cfg.critic.path is None and not from_scorer,
                      strategy=cfg.strategy)


def count_tokens(usage: Usage, metrics: dict[str, float], cfg: RunConfig, n_critics: int) -> None:
    """Tokens of one rollout batch: generated; run forward by the reference, the old-policy pass,
    the critics and the reward/cost models; trained by the policy and critics in every PPO epoch.
    The bilinear baseline's responses (generated and scored once per prompt) are counted when made."""
    rollout = int(metrics["rollout_tokens"])
    scorers = 2 if cfg.reward.source == "models" else 0
    usage.generated_tokens += int(metrics["generated_tokens"]) + int(metrics.get("baseline_generated_tokens", 0))
    usage.forward_tokens += rollout * (2 + n_critics + scorers) + int(metrics.get("baseline_scored_tokens", 0))
    usage.trained_tokens += rollout * cfg.algorithm.ppo_epochs * (1 + n_critics)


def record_usage(usage: Usage, cfg: RunConfig, actors: Actors, wall_seconds: float, out: Path) -> None:
    """CPU seconds of every role's actors and the wall time, written as ``usage.json``."""
    usage.wall_seconds = wall_seconds
    roles = [("policy", rank, cfg.policy) for rank in actors.policy.actors]
    roles += [("reference", actors.reference, cfg.reference), ("reward", actors.reward, cfg.reward)]
    roles += [("rollout", e, cfg.rollout) for e in actors.engines]
    roles += [("critic", rank, cfg.critic) for c in actors.critics.values() for rank in c.actors]
    if actors.baseline is not None:
        roles.append(("rollout", actors.baseline, cfg.rollout))
    for name, actor, role in roles:
        usage.add_role(name, actor_cpu_seconds(actor), role.num_gpus_per_worker, wall_seconds)
    usage.save(out)

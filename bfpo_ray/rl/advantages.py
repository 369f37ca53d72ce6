"""From a scored rollout batch to PPO's per-token advantages and the critics' value targets.

Every tensor is [rows, tokens] (aligned with :func:`bfpo_ray.logprobs.token_logps`) or [rows]. With
KL_t the per-token estimate of KL(pi || pi_ref) at the sampled token:

    bilinear / linear:  r_t = -kl_coef * KL_t  (+ the sequence score R on the last response token)
                        A, V_target = GAE(r, V_reward)
    lagrangian:         r_t = -kl_coef * KL_t  (+ reward r on the last token),  A_r = GAE(r, V_reward)
                        c_t = +kl_coef * KL_t  (+ cost c on the last token),    A_c = GAE(c, V_cost)
                        A = (A_r - lambda * A_c) / (1 + lambda)

so the KL penalty keeps the weight kl_coef in the combined advantage whatever lambda is (Safe-RLHF puts
the KL term in both streams). Advantages are then whitened over the batch's response tokens when
``whiten_advantages`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bfpo_ray.config import AlgorithmConfig
from bfpo_ray.rl.gae import gae, masked_whiten
from bfpo_ray.rl.kl import kl_estimate
from bfpo_ray.rl.rewards import bilinear_score, lagrangian_advantages, linear_score, token_rewards

Tensor = torch.Tensor


@dataclass
class ScoredRollouts:
    """One rollout batch after scoring. ``values`` holds the critics' V [rows, tokens] by name
    (``reward``, and ``cost`` for lagrangian); ``baseline_reward`` [rows, K] holds r(x, y_base_k) (bilinear)."""

    mask: Tensor
    reward: Tensor
    cost: Tensor
    old_logps: Tensor
    ref_logps: Tensor
    values: dict[str, Tensor]
    baseline_reward: Tensor | None = None


@dataclass
class PPOTargets:
    """What the PPO update needs: advantages, one value target per critic, and the logged pieces."""

    advantages: Tensor
    returns: dict[str, Tensor]
    score: Tensor  # the sequence score the reward stream pays on the last token [rows]
    kl: Tensor  # per-token KL estimate, masked [rows, tokens]


def sequence_score(a: AlgorithmConfig, reward: Tensor, cost: Tensor, baseline_reward: Tensor | None) -> Tensor:
    """The per-response score of the reward stream: bilinear, linear, or the reward itself (lagrangian)."""
    if a.reward == "bilinear":
        if baseline_reward is None:
            raise ValueError("the bilinear score needs the baseline responses' rewards")
        return bilinear_score(reward, baseline_reward, cost, a.alpha, a.bilinear_safety == "hard")
    if a.reward == "linear":
        return linear_score(reward, cost, a.cost_weight)
    return reward


def ppo_targets(a: AlgorithmConfig, rollouts: ScoredRollouts, lam: float) -> PPOTargets:
    """Advantages and value targets for one rollout batch (formulas in the module docstring)."""
    mask = rollouts.mask
    kl = kl_estimate(rollouts.old_logps, rollouts.ref_logps, a.kl_estimator) * mask
    score = sequence_score(a, rollouts.reward, rollouts.cost, rollouts.baseline_reward)
    if a.whiten_rewards:
        score = (score - score.mean()) / (score.std() + 1e-8)
    advantages, returns = gae(token_rewards(score, kl, mask, a.kl_coef), rollouts.values["reward"], mask,
                              a.gamma, a.gae_lambda)
    targets = {"reward": returns}
    if a.reward == "lagrangian":
        cost_rewards = token_rewards(rollouts.cost, -kl, mask, a.kl_coef)
        cost_advantages, targets["cost"] = gae(cost_rewards, rollouts.values["cost"], mask, a.gamma, a.gae_lambda)
        advantages = lagrangian_advantages(advantages, cost_advantages, lam)
    if a.whiten_advantages:
        advantages = masked_whiten(advantages, mask)
    return PPOTargets(advantages, targets, score, kl)

"""Combining the helpfulness reward r(x, y) and the safety cost c(x, y) (> 0 unsafe) into PPO rewards.

``bilinear`` (the BFPO paper's objective, DESIGN.md section 1):

    max E[(r_safe + E_safe) * (r_help + 1/2)] - tau * KL,  read per sampled response as
    R(x, y) = (s(x, y) - alpha) * w(x, y)
    w = mean_k sigmoid(r(x, y) - r(x, y_base_k))   r_help + 1/2: the Bradley-Terry probability that y
                                          beats a response y_base of the reference policy to x,
                                          averaged over K such responses
    s = sigmoid(-c(x, y))                 r_safe + E_safe + alpha: the cost model's probability that
                                          y is safe (``hard``: the indicator c(x, y) < 0)

so a safe response gains by being more helpful than the baseline and an unsafe one loses by it:
helpful-safe > unhelpful-safe > unhelpful-unsafe > helpful-unsafe, BFPO's ranking.

``linear``: R = r - w * c.   ``lagrangian``: reward r and cost c stay apart (two critics); the
advantages combine as (A_r - lambda * A_c) / (1 + lambda), see :func:`lagrangian_advantages`.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def bilinear_score(reward: Tensor, baseline_reward: Tensor, cost: Tensor, alpha: float = 0.5,
                   hard: bool = False) -> Tensor:
    """R = (s - alpha) * w, s = sigmoid(-cost) or 1[cost < 0] when ``hard``, and w = sigmoid(r - r_base)
    for ``baseline_reward`` [rows], or w = mean_k sigmoid(r - r_base_k) for K baselines [rows, K]."""
    safe = (cost < 0).to(reward.dtype) if hard else torch.sigmoid(-cost)
    base = baseline_reward if baseline_reward.dim() == 2 else baseline_reward.unsqueeze(-1)
    return (safe - alpha) * torch.sigmoid(reward.unsqueeze(-1) - base).mean(-1)


def linear_score(reward: Tensor, cost: Tensor, cost_weight: float) -> Tensor:
    """R = r - w * c."""
    return reward - cost_weight * cost


def lagrangian_advantages(reward_advantages: Tensor, cost_advantages: Tensor, lam: float) -> Tensor:
    """Safe-RLHF PPO-Lag: A = (A_r - lambda * A_c) / (1 + lambda)."""
    return (reward_advantages - lam * cost_advantages) / (1.0 + lam)


def token_rewards(score: Tensor, kl: Tensor, mask: Tensor, kl_coef: float) -> Tensor:
    """Per-token rewards [batch, tokens]: -kl_coef * KL_t on every response token, plus the sequence
    ``score`` [batch] on its last response token."""
    mask = mask.to(kl.dtype)
    rewards = -kl_coef * kl * mask
    last = last_token_index(mask)
    rewards[torch.arange(rewards.shape[0]), last] += score.to(rewards.dtype)
    return rewards


def last_token_index(mask: Tensor) -> Tensor:
    """Index of the last 1 in each row of ``mask`` (rows must have at least one)."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return torch.where(mask > 0, positions, torch.full_like(positions, -1)).max(-1).values

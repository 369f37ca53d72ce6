"""Generalized advantage estimation over masked token sequences, and whitening."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Advantages and returns, all tensors [batch, tokens]; ``mask`` marks one contiguous response per row.

        delta_t = r_t + gamma * m_{t+1} * V_{t+1} - V_t
        A_t     = delta_t + gamma * lam * m_{t+1} * A_{t+1}        (A = 0 where m_t = 0)
        R_t     = A_t + V_t

    so the value after the last response token is 0 (the episode ends there).
    """
    mask = mask.to(values.dtype)
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])
    next_adv = torch.zeros_like(values[:, 0])
    next_mask = torch.zeros_like(values[:, 0])
    for t in range(values.shape[1] - 1, -1, -1):
        delta = rewards[:, t] + gamma * next_mask * next_value - values[:, t]
        adv = (delta + gamma * lam * next_mask * next_adv) * mask[:, t]
        advantages[:, t] = adv
        next_value, next_adv, next_mask = values[:, t], adv, mask[:, t]
    return advantages, (advantages + values) * mask


def masked_whiten(values: Tensor, mask: Tensor, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """(x - mean) / std over the masked entries (mean added back when ``shift_mean`` is False)."""
    mask = mask.to(values.dtype)
    count = mask.sum().clamp(min=1.0)
    mean = (values * mask).sum() / count
    var = (((values - mean) * mask) ** 2).sum() / count
    white = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        white = white + mean
    return white * mask

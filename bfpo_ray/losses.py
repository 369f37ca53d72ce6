"""Losses as pure functions of tensors. Each returns PER-EXAMPLE values (shape [batch]).

Notation (DESIGN.md section 1): for a pair (x, y_w, y_l) where y_w is the more helpful
response, the policy/reference log-ratio margin is

    h = [log pi(y_w|x) - log pi(y_l|x)] - [log pi_ref(y_w|x) - log pi_ref(y_l|x)]

where each log pi(y|x) is the SUM (or the length-MEAN, a setting) of the response's token
log-probabilities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def logratio_margin(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
) -> Tensor:
    """h = (log pi(y_w) - log pi(y_l)) - (log pi_ref(y_w) - log pi_ref(y_l))."""
    return (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps - reference_rejected_logps)


def bfpo_labeling(chosen_safe: Tensor, rejected_safe: Tensor, b1: float = 3.0, alpha: float = 0.5) -> Tensor:
    """The BFPO labeling function g_I = B3 * (B1 * s_w - s_l) - alpha, with B3 = 1 / (B1 - 1).

    With B1 = 3, alpha = 0.5: (1,1) -> 0.5, (1,0) -> 1.0, (0,1) -> -1.0, (0,0) -> -0.5.
    """
    if b1 <= 1:
        raise ValueError(f"b1 must be > 1 (B3 = 1/(b1-1)), got {b1}")
    b3 = 1.0 / (b1 - 1.0)
    return b3 * (b1 * chosen_safe.to(torch.float32) - rejected_safe.to(torch.float32)) - alpha


def bfpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    chosen_safe: Tensor,
    rejected_safe: Tensor,
    beta: float = 0.01,
    b1: float = 3.0,
    alpha: float = 0.5,
) -> Tensor:
    """BFPO: loss = (h - g_I / beta)^2, g_I = B3 * (B1 * s_w - s_l) - alpha, B3 = 1/(B1 - 1).

    ``chosen_safe`` (s_w) and ``rejected_safe`` (s_l) are 0/1 safety labels of the more and
    the less helpful response. A safe/safe pair reduces to IPO with target 1/(2*beta) when
    B1 = 3 and alpha = 0.5.
    """
    h = logratio_margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps)
    target = bfpo_labeling(chosen_safe, rejected_safe, b1, alpha).to(h.dtype) / beta
    return (h - target) ** 2


def ipo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    beta: float,
) -> Tensor:
    """IPO: loss = (h - 1 / (2 * beta))^2."""
    h = logratio_margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps)
    return (h - 1.0 / (2.0 * beta)) ** 2


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    beta: float,
) -> Tensor:
    """DPO: loss = -log sigmoid(beta * h)."""
    h = logratio_margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps)
    return -F.logsigmoid(beta * h)


def sft_loss(token_logps: Tensor, completion_mask: Tensor) -> Tensor:
    """SFT: loss_i = -(1/|y_i|) * sum_t log pi(y_t | x, y_<t) over the response tokens of example i."""
    mask = completion_mask.to(token_logps.dtype)
    return -(token_logps * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)

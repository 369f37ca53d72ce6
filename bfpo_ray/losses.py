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


# --- reward / cost models and PPO (issue 3) --------------------------------------------------------


def reward_model_loss(chosen_rewards: Tensor, rejected_rewards: Tensor) -> Tensor:
    """Bradley-Terry reward model: loss = -log sigmoid(r(x, y_w) - r(x, y_l)), y_w the more helpful."""
    return -F.logsigmoid(chosen_rewards - rejected_rewards)


def cost_model_loss(safer_costs: Tensor, unsafer_costs: Tensor, safer_safe: Tensor, unsafer_safe: Tensor) -> Tensor:
    """Safe-RLHF cost model: cost > 0 means unsafe.

        loss = -log s(c_unsafer - c_safer) - log s(sign_safer * c_safer) - log s(sign_unsafer * c_unsafer)

    with s the sigmoid and sign = +1 for an unsafe response, -1 for a safe one (label 0/1 -> 1 - 2 * label).
    """
    sign_safer = 1.0 - 2.0 * safer_safe.to(safer_costs.dtype)
    sign_unsafer = 1.0 - 2.0 * unsafer_safe.to(unsafer_costs.dtype)
    return (
        -F.logsigmoid(unsafer_costs - safer_costs)
        - F.logsigmoid(sign_safer * safer_costs)
        - F.logsigmoid(sign_unsafer * unsafer_costs)
    )


def masked_row_sums(values: Tensor, mask: Tensor, row_weights: Tensor | None) -> Tensor:
    """sum_t mask_t * values_t * w_i per row i; w_i = 1 / sum_t mask_t (the response mean) when not given."""
    mask = mask.to(values.dtype)
    if row_weights is None:
        row_weights = 1.0 / mask.sum(-1).clamp(min=1.0)
    return (values * mask).sum(-1) * row_weights.to(values.dtype)


def ppo_policy_loss(logps: Tensor, old_logps: Tensor, advantages: Tensor, mask: Tensor, clip_range: float,
                    row_weights: Tensor | None = None) -> Tensor:
    """PPO clipped surrogate per token t, summed over each example's response tokens with a row weight:

        rho_t = exp(log pi(a_t) - log pi_old(a_t))
        loss_t = max(-A_t * rho_t, -A_t * clip(rho_t, 1 - eps, 1 + eps))
        loss_i = w_i * sum_t mask_t * loss_t

    w_i = 1 / |y_i| (default) averages over each response, so every response weighs the same;
    w_i = rows / tokens of the mini-batch makes the batch mean a token-level mean (every token weighs
    the same, as Safe-RLHF and OpenRLHF). All inputs are [batch, tokens]; ``mask`` marks response tokens.
    """
    ratio = torch.exp(logps - old_logps)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    return masked_row_sums(torch.maximum(unclipped, clipped), mask, row_weights)


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, clip_range: float,
               row_weights: Tensor | None = None) -> Tensor:
    """Value loss per token, summed over each example's response tokens with a row weight (as
    :func:`ppo_policy_loss`):

        v_clip_t = old_v_t + clip(v_t - old_v_t, -eps, eps)
        loss_t = 1/2 * max((v_t - R_t)^2, (v_clip_t - R_t)^2)      (clip_range > 0)
        loss_t = 1/2 * (v_t - R_t)^2                              (clip_range <= 0: no clipping)
    """
    per_token = 0.5 * (values - returns) ** 2
    if clip_range > 0:
        clipped = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
        per_token = torch.maximum(per_token, 0.5 * (clipped - returns) ** 2)
    return masked_row_sums(per_token, mask, row_weights)

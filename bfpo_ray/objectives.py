"""From a model and a collated batch to per-example losses and statistics.

This glues :mod:`bfpo_ray.logprobs` and :mod:`bfpo_ray.losses` to the algorithm settings;
the formulas themselves live in :mod:`bfpo_ray.losses`.
"""

from __future__ import annotations

import torch

from bfpo_ray import losses
from bfpo_ray.config import AlgorithmConfig
from bfpo_ray.logprobs import reduce_logps, sequence_logps, token_logps
from bfpo_ray.packing import packed_sequence_logps
from bfpo_ray.prompt_sharing import shared_prompt_logps, supports_prompt_sharing
from bfpo_ray.response_logits import first_scored_position, logits_at

Tensor = torch.Tensor


def forward_logps(model: torch.nn.Module, batch: dict[str, Tensor], packing: bool = False,
                  share_prompt: bool = False) -> tuple[Tensor, Tensor]:
    """Summed response log-probs and response lengths for every row of ``batch``; with ``packing`` from one
    padding-free forward over the sequences packed end to end (see :mod:`bfpo_ray.packing`). With
    ``share_prompt`` too, ``batch`` is a pair batch (chosen rows then rejected rows) and each pair's prompt is
    computed once where the model's attention allows it (see :mod:`bfpo_ray.prompt_sharing`)."""
    if packing and share_prompt and supports_prompt_sharing(model):
        shared = shared_prompt_logps(model, batch)
        if shared is not None:
            return shared
    if packing:
        return packed_sequence_logps(model, batch)
    return sequence_logps(*_response_columns(model, batch))


def sft_objective(model: torch.nn.Module, batch: dict[str, Tensor],
                  packing: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-example response NLL (see :func:`bfpo_ray.losses.sft_loss`), padded or packed like :func:`forward_logps`."""
    if packing:
        loss = -reduce_logps(*packed_sequence_logps(model, batch), "mean")  # = sft_loss, per sequence
        return loss, {"nll": loss.detach()}
    logits, input_ids, completion_mask = _response_columns(model, batch)
    loss = losses.sft_loss(token_logps(logits, input_ids), completion_mask[:, 1:])
    return loss, {"nll": loss.detach()}


def _response_columns(model: torch.nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Logits, ``input_ids`` and ``completion_mask`` of a right-padded batch from its first scored column on
    (the prompt columns before it predict no response token, so their logits are not computed)."""
    start = first_scored_position(batch["completion_mask"])
    logits = logits_at(model, batch["input_ids"].shape[1] - start, input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"], use_cache=False)
    return logits, batch["input_ids"][:, start:], batch["completion_mask"][:, start:]


def pair_losses(
    algo: AlgorithmConfig,
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    reference_chosen: Tensor,
    reference_rejected: Tensor,
    chosen_safe: Tensor,
    rejected_safe: Tensor,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The configured preference loss per pair, plus per-pair statistics.

    ``accuracy`` counts a pair as right when the margin h has the sign of its target:
    positive for DPO/IPO, the sign of the labeling function g_I for BFPO.
    """
    args = (policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    if algo.name == "bfpo":
        loss = losses.bfpo_loss(*args, chosen_safe, rejected_safe, beta=algo.beta, b1=algo.b1, alpha=algo.alpha)
        target_sign = torch.sign(losses.bfpo_labeling(chosen_safe, rejected_safe, algo.b1, algo.alpha))
    elif algo.name == "ipo":
        loss = losses.ipo_loss(*args, beta=algo.beta)
        target_sign = torch.ones_like(policy_chosen)
    elif algo.name == "dpo":
        loss = losses.dpo_loss(*args, beta=algo.beta)
        target_sign = torch.ones_like(policy_chosen)
    else:
        raise ValueError(f"not a preference algorithm: {algo.name}")
    h = losses.logratio_margin(*args).detach()
    chosen_reward = algo.beta * (policy_chosen - reference_chosen).detach()
    rejected_reward = algo.beta * (policy_rejected - reference_rejected).detach()
    stats = {
        "margin_h": h,
        "rewards_chosen": chosen_reward,
        "rewards_rejected": rejected_reward,
        "rewards_margin": chosen_reward - rejected_reward,
        "accuracy": (torch.sign(h) == target_sign).float(),
    }
    return loss, stats


def preference_objective(
    model: torch.nn.Module, batch: dict[str, Tensor], algo: AlgorithmConfig, packing: bool = False,
    share_prompt: bool = False,
) -> tuple[Tensor, dict[str, Tensor]]:
    """One concatenated forward over chosen (rows [0,B)) and rejected (rows [B,2B)) responses.

    ``batch`` carries the reference's summed log-probs and lengths as ``ref_logps`` and
    ``ref_counts`` (shape [2B], same row order). ``packing`` and ``share_prompt`` as in :func:`forward_logps`.
    """
    summed, counts = forward_logps(model, batch, packing, share_prompt)
    policy = reduce_logps(summed, counts, algo.logp_reduction)
    reference = reduce_logps(batch["ref_logps"], batch["ref_counts"], algo.logp_reduction)
    n = policy.shape[0] // 2
    return pair_losses(
        algo, policy[:n], policy[n:], reference[:n], reference[n:], batch["chosen_safe"], batch["rejected_safe"]
    )

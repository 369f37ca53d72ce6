"""Per-token estimators of KL(pi || pi_ref) from samples of pi."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def kl_estimate(logps: Tensor, ref_logps: Tensor, estimator: str = "k1") -> Tensor:
    """With d = log pi(a) - log pi_ref(a) at a sampled token a ~ pi:

        k1 = d                       (unbiased, can be negative)
        k3 = exp(-d) + d - 1 >= 0    (unbiased, lower variance)
    """
    d = logps - ref_logps
    if estimator == "k1":
        return d
    if estimator == "k3":
        return torch.exp(-d) + d - 1.0
    raise ValueError(f"kl estimator must be 'k1' or 'k3', got {estimator!r}")

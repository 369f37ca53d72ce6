"""The Lagrange multiplier of Safe-RLHF PPO-Lag, kept in log space and updated once per rollout batch."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

UPDATES = ("log_space", "safe_rlhf")


class Lagrangian:
    """lambda = exp(log_lambda) with, after each rollout batch,

        J_C = mean of the last ``window`` batch-mean costs
        log_space:  log_lambda <- min(log_lambda + lr * (J_C - threshold), log(lambda_max))
        safe_rlhf:  log_lambda <- min(log_lambda + lr * lambda * (J_C - threshold), log(lambda_max))

    so lambda grows while the policy is costlier than the threshold and shrinks otherwise. ``safe_rlhf`` is
    Safe-RLHF's step: SGD on the loss -(J_C - d) * exp(log_lambda), whose gradient in log_lambda carries
    the factor lambda. ``log_space`` (the default) drops that factor: a multiplicative update whose
    speed does not depend on lambda itself, so a lambda that fell near 0 recovers as fast as a large one
    moves, and one ``lr`` suits any cost scale of lambda.
    """

    def __init__(self, init: float, lr: float, threshold: float, lambda_max: float, window: int,
                 update: str = "log_space") -> None:
        if update not in UPDATES:
            raise ValueError(f"lambda update must be one of {UPDATES}, got {update!r}")
        self.log_lambda = math.log(init)
        self.lr, self.threshold, self.max_log = lr, threshold, math.log(lambda_max)
        self.scale_by_lambda = update == "safe_rlhf"
        self.costs: deque[float] = deque(maxlen=window)

    @property
    def value(self) -> float:
        return math.exp(self.log_lambda)

    def update(self, batch_mean_cost: float) -> float:
        """Record one rollout batch's mean cost, step log_lambda, return the new lambda."""
        self.costs.append(float(batch_mean_cost))
        j_c = sum(self.costs) / len(self.costs)
        step = self.lr * (j_c - self.threshold) * (self.value if self.scale_by_lambda else 1.0)
        self.log_lambda = min(self.log_lambda + step, self.max_log)
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {"log_lambda": self.log_lambda, "costs": list(self.costs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.log_lambda = float(state["log_lambda"])
        self.costs.clear()
        self.costs.extend(float(c) for c in state["costs"])

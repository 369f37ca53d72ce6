"""The Lagrange multiplier of Safe-RLHF PPO-Lag, kept in log space and updated once per rollout batch."""

from __future__ import annotations

import math
from collections import deque
from typing import Any


class Lagrangian:
    """lambda = exp(log_lambda) with, after each rollout batch,

        J_C = mean of the last ``window`` batch-mean costs
        log_lambda <- min(log_lambda + lr * (J_C - threshold), log(lambda_max))

    so lambda grows while the policy is costlier than the threshold and shrinks otherwise.
    """

    def __init__(self, init: float, lr: float, threshold: float, lambda_max: float, window: int) -> None:
        self.log_lambda = math.log(init)
        self.lr, self.threshold, self.max_log = lr, threshold, math.log(lambda_max)
        self.costs: deque[float] = deque(maxlen=window)

    @property
    def value(self) -> float:
        return math.exp(self.log_lambda)

    def update(self, batch_mean_cost: float) -> float:
        """Record one rollout batch's mean cost, step log_lambda, return the new lambda."""
        self.costs.append(float(batch_mean_cost))
        j_c = sum(self.costs) / len(self.costs)
        self.log_lambda = min(self.log_lambda + self.lr * (j_c - self.threshold), self.max_log)
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {"log_lambda": self.log_lambda, "costs": list(self.costs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.log_lambda = float(state["log_lambda"])
        self.costs.clear()
        self.costs.extend(float(c) for c in state["costs"])

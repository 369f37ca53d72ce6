"""The trainable policy: a causal LM trained on collated batches (SFT or a preference objective).

A plain Python class: :mod:`actors.policy` hosts it in a Ray actor, and a machine without
Ray (or a unit test) uses it directly. Optimizer, strategy, data-parallel group and checkpoints
come from :class:`~bfpo_ray.workers.trainable.TrainableWorker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig, StrategyConfig
from bfpo_ray.objectives import preference_objective, sft_objective
from bfpo_ray.workers.modeling import load_causal_lm, load_tokenizer, set_torch_threads
from bfpo_ray.workers.trainable import TrainableWorker


@dataclass
class PolicySpec:
    """Everything a policy worker needs to build itself."""

    model: ModelConfig
    optim: OptimConfig
    algorithm: AlgorithmConfig
    total_steps: int
    micro_batch_size: int
    seed: int
    torch_threads: int = 0
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    sampling_temperature: float = 1.0  # ppo: log-probs are those of softmax(logits / temperature)


class PolicyWorker(TrainableWorker):
    """Holds the policy weights and optimizer; trains on collated batches, alone or as one rank of a group."""

    def __init__(self, spec: PolicySpec) -> None:
        self.threads = set_torch_threads(spec.torch_threads)
        torch.manual_seed(spec.seed)
        self.spec = spec
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_causal_lm(spec.model, self.device)
        self.tokenizer = load_tokenizer(spec.model)
        self.init_training(spec.optim, spec.optim.lr, spec.total_steps, spec.strategy, spec.model)

    def describe(self) -> dict[str, Any]:
        return {"trainable_parameters": self.trainable, "total_parameters": self.total, "torch_threads": self.threads,
                "rank": self.rank, "world_size": self.world_size, "strategy": self.spec.strategy.name,
                "device": str(self.device)}

    def _objective(self, micro: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        packing = self.spec.model.packing
        if self.spec.algorithm.name == "sft":
            return sft_objective(self.model, micro, packing)
        return preference_objective(self.model, micro, self.spec.algorithm, packing, self.spec.model.share_prompt)

    def train_step(self, parts: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        """One optimizer step on the sum over parts of each part's mean loss.

        BFPO sends {"safety": ..., "buffer": ...}: loss = L_safety + L_buffer; metrics are named by part
        (``loss_safety``) and ``loss`` is their total. In a group each rank gets a shard of every part
        (see :meth:`~bfpo_ray.workers.trainable.TrainableWorker.optimizer_step`).
        """
        return self.optimizer_step(parts, self.spec.micro_batch_size, name_metrics=True)

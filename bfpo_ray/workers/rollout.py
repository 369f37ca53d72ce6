"""Rollout worker: hosts a generation backend and receives policy weights."""

from __future__ import annotations

import torch

from bfpo_ray.config import ModelConfig
from bfpo_ray.rollout.hf_engine import HFEngine
from bfpo_ray.rollout.types import Generation, Sampling
from bfpo_ray.workers.modeling import load_causal_lm, load_tokenizer, set_torch_threads


class RolloutWorker:
    """A plain class (hosted by :mod:`actors.rollout`) that generates with the ``hf`` backend."""

    def __init__(self, model: ModelConfig, batch_size: int = 64, torch_threads: int = 0) -> None:
        self.threads = set_torch_threads(torch_threads)
        self.tokenizer = load_tokenizer(model)
        self.model = load_causal_lm(model)
        self.engine = HFEngine(self.model, self.tokenizer, batch_size)

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        return self.engine.generate(prompts, sampling)

    def update_weights(self, named_tensors: dict[str, torch.Tensor]) -> int:
        """Copy new weights in place; returns the number of tensors updated."""
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, tensor in named_tensors.items():
                params[name].copy_(tensor)
        return len(named_tensors)

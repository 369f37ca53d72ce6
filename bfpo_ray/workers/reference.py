"""The frozen reference model: response log-probs for collated pair batches."""

from __future__ import annotations

import torch

from bfpo_ray.config import ModelConfig
from bfpo_ray.objectives import forward_logps
from bfpo_ray.workers.compilation import compile_model
from bfpo_ray.workers.modeling import load_causal_lm, load_weights_from, set_torch_threads, weights_fingerprint


class ReferenceWorker:
    """Holds frozen weights; a plain class that :mod:`actors.reference` hosts in Ray."""

    def __init__(self, model: ModelConfig, torch_threads: int = 0) -> None:
        self.threads = set_torch_threads(torch_threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_causal_lm(model, self.device).eval()
        self.model.requires_grad_(False)
        self.compiled = model.compile and compile_model(self.model)
        self.packing, self.share_prompt = model.packing, model.share_prompt

    def load_model(self, path: str) -> None:
        """Replace the weights with those of the HF directory ``path`` (same architecture)."""
        load_weights_from(self.model, path)

    def fingerprint(self) -> str:
        """Content hash of the weights (keys the on-disk reference log-prob cache)."""
        return weights_fingerprint(self.model)

    @torch.no_grad()
    def logps(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed response log-probs and response lengths per row (shape [rows], on the CPU)."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        summed, counts = forward_logps(self.model, batch, self.packing, self.share_prompt)
        return summed.float().cpu(), counts.cpu()

"""The trainable policy: model, AdamW, LR schedule, train step, checkpoints.

A plain Python class: :mod:`actors.policy` hosts it in a Ray actor, and a machine without
Ray (or a unit test) uses it directly.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from bfpo_ray.checkpoint import (
    atomic_directory,
    load_state,
    prune_checkpoints,
    publish_files,
    rng_state,
    save_state,
    set_rng_state,
)
from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.objectives import preference_objective, sft_objective
from bfpo_ray.workers.batching import batch_size, micro_batches
from bfpo_ray.workers.modeling import (
    apply_trainable_patterns,
    load_causal_lm,
    load_tokenizer,
    set_torch_threads,
)


class NonFiniteLossError(RuntimeError):
    """The loss or gradient norm became NaN/Inf; the weights were left untouched."""


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


def lr_multiplier(step: int, total_steps: int, warmup_ratio: float, schedule: str) -> float:
    """Linear warmup over ceil(warmup_ratio * total) steps, then cosine/linear decay to 0 or constant."""
    warmup = math.ceil(warmup_ratio * total_steps)
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total_steps - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class PolicyWorker:
    """Holds the policy weights and optimizer; trains on collated batches."""

    def __init__(self, spec: PolicySpec) -> None:
        self.threads = set_torch_threads(spec.torch_threads)
        torch.manual_seed(spec.seed)
        self.spec = spec
        self.model = load_causal_lm(spec.model)
        self.tokenizer = load_tokenizer(spec.model)
        self.trainable, self.total = apply_trainable_patterns(self.model, spec.model.trainable_patterns)
        o = spec.optim
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=o.lr,
            betas=(o.adam_beta1, o.adam_beta2),
            weight_decay=o.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_multiplier(s, spec.total_steps, o.warmup_ratio, o.scheduler)
        )

    def describe(self) -> dict[str, Any]:
        return {"trainable_parameters": self.trainable, "total_parameters": self.total, "torch_threads": self.threads}

    def _objective(self, micro: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.spec.algorithm.name == "sft":
            return sft_objective(self.model, micro)
        return preference_objective(self.model, micro, self.spec.algorithm)

    def train_step(self, parts: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        """One optimizer step on the sum over parts of each part's mean loss.

        BFPO sends {"safety": ..., "buffer": ...}: loss = L_safety + L_buffer.
        """
        start = time.perf_counter()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = defaultdict(float)
        tokens = 0
        for name, part in parts.items():
            size = batch_size(part)
            for micro in micro_batches(part, self.spec.micro_batch_size):
                loss_vec, stats = self._objective(micro)
                loss = loss_vec.sum() / size
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(f"{name} loss is {loss.item()} at step {self.step + 1}")
                loss.backward()
                tokens += int(micro["attention_mask"].sum())
                sums[f"loss_{name}"] += loss.item()
                for key, value in stats.items():
                    sums[f"{key}_{name}"] += value.sum().item() / size
        grad_norm = self._clip_gradients()
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        seconds = time.perf_counter() - start
        metrics = dict(sums)
        metrics["loss"] = sum(v for k, v in sums.items() if k.startswith("loss_"))
        metrics.update(grad_norm=grad_norm, lr=lr, tokens=tokens, train_seconds=seconds,
                       tokens_per_s=tokens / max(seconds, 1e-9))
        return metrics

    def _clip_gradients(self) -> float:
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.spec.optim.max_grad_norm if self.spec.optim.max_grad_norm > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if not math.isfinite(norm):
            raise NonFiniteLossError(f"gradient norm is {norm} at step {self.step + 1}")
        return norm

    @property
    def step(self) -> int:
        return int(self.scheduler.last_epoch)

    def save_pretrained(self, directory: str) -> str:
        """Write HF weights (safetensors) + tokenizer into ``directory``, file by file atomically."""
        target = Path(directory)
        staging = target / ".publish.tmp"
        with atomic_directory(staging) as tmp:
            self._write_hf(tmp)
        publish_files(staging, target)
        return str(target)

    def _write_hf(self, directory: Path) -> None:
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)

    def save_checkpoint(self, directory: str, trainer_state: dict[str, Any], keep_last: int) -> str:
        """Atomically write weights, optimizer, scheduler, RNG and ``trainer_state``; prune old ones."""
        final = Path(directory)
        with atomic_directory(final) as tmp:
            self._write_hf(tmp)
            save_state(self.optimizer.state_dict(), tmp, "optimizer")
            save_state(self.scheduler.state_dict(), tmp, "scheduler")
            save_state(rng_state(), tmp, "rng")
            save_state(trainer_state, tmp, "trainer_state")
        prune_checkpoints(final.parent, keep_last)
        return str(final)

    def load_checkpoint(self, directory: str) -> dict[str, Any]:
        """Restore weights, optimizer, scheduler and RNG; return the saved trainer state."""
        path = Path(directory)
        weights: dict[str, torch.Tensor] = {}
        for shard in sorted(path.glob("model*.safetensors")):
            weights.update(load_file(str(shard)))
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        if unexpected or any(not _is_tied(k, self.model) for k in missing):
            raise ValueError(f"{path}: checkpoint weights do not match the model ({missing[:3]}, {unexpected[:3]})")
        if getattr(self.model.config, "tie_word_embeddings", False):
            self.model.tie_weights()
        self.optimizer.load_state_dict(load_state(path, "optimizer"))
        self.scheduler.load_state_dict(load_state(path, "scheduler"))
        set_rng_state(load_state(path, "rng"))
        return load_state(path, "trainer_state")


def _is_tied(key: str, model: torch.nn.Module) -> bool:
    return key == "lm_head.weight" and bool(getattr(model.config, "tie_word_embeddings", False))

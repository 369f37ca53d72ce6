"""Scalar-head models: the reward model, the cost model and the PPO critics.

A causal-LM backbone with a linear head that maps every hidden state to one number, stored as
``AutoModelForSequenceClassification`` with ``num_labels=1`` (safetensors + tokenizer), so an
``rm``/``cm`` run directory loads again with transformers and with this framework. The head is
read at every position (critic values) or at the last attended token (the sequence score); the
pooling is done here from the attention mask, not by transformers' pad-token search, so a
tokenizer whose pad token equals its EOS token scores the EOS position correctly.

:class:`ScalarModelWorker` trains one such model: ``kind`` ``reward`` (Bradley-Terry),
``cost`` (Safe-RLHF) or ``critic`` (clipped value loss). A plain class, hosted in Ray by
:mod:`actors.critic` and :mod:`actors.reward`.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from bfpo_ray import losses
from bfpo_ray.checkpoint import atomic_directory, load_state, publish_files, rng_state, save_state, set_rng_state
from bfpo_ray.config import ModelConfig, OptimConfig
from bfpo_ray.rl.rewards import last_token_index
from bfpo_ray.workers.batching import batch_size, in_row_chunks, micro_batches
from bfpo_ray.workers.modeling import (
    DTYPES,
    apply_trainable_patterns,
    load_tokenizer,
    load_weights_from,
    set_torch_threads,
)
from bfpo_ray.workers.policy import NonFiniteLossError, lr_multiplier

Tensor = torch.Tensor
KINDS = ("reward", "cost", "critic")


def load_scalar_model(path: str, dtype: str = "float32", trust_remote_code: bool = False,
                      pad_token_id: int | None = None) -> PreTrainedModel:
    """A backbone + scalar head from an HF dir (a causal LM gets a freshly initialised head)."""
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=DTYPES[dtype], trust_remote_code=trust_remote_code, use_safetensors=True
    )
    if model.config.pad_token_id is None and pad_token_id is not None:
        model.config.pad_token_id = pad_token_id
    return model


def _head(model: PreTrainedModel) -> torch.nn.Module:
    for name in ("score", "classifier", "v_head"):
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    raise ValueError(f"{type(model).__name__} has no scalar head named score/classifier/v_head")


def token_scores(model: PreTrainedModel, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """The head applied to every position's last hidden state: [batch, seq] in float32."""
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    return _head(model)(hidden).squeeze(-1).float()


def sequence_scores(model: PreTrainedModel, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """The score at each row's last attended token: [batch]."""
    scores = token_scores(model, input_ids, attention_mask)
    return scores[torch.arange(scores.shape[0], device=scores.device), last_token_index(attention_mask)]


def pairwise_stats(kind: str, chosen: Tensor, rejected: Tensor, chosen_safe: Tensor,
                   rejected_safe: Tensor) -> dict[str, Tensor]:
    """Per-pair accuracies. reward: r_chosen > r_rejected. cost (chosen = safer): c_chosen < c_rejected,
    and sign accuracy = share of the pair's two responses with (cost > 0) == unsafe. When both responses
    have the same safety label, "safer" is an annotator's (in the world: a random) pick, so the cost
    model's pairwise accuracy is also reported on the pairs whose safety labels differ."""
    if kind == "reward":
        return {"pairwise_accuracy": (chosen > rejected).float(), "margin": chosen - rejected}
    sign = (((chosen > 0).float() == 1 - chosen_safe).float() + ((rejected > 0).float() == 1 - rejected_safe).float())
    differs = (chosen_safe != rejected_safe).float()
    return {"pairwise_accuracy": (chosen < rejected).float(), "sign_accuracy": sign / 2, "margin": rejected - chosen,
            "safety_differs": differs, "pairwise_correct_where_safety_differs": (chosen < rejected).float() * differs}


@dataclass
class ScalarSpec:
    """Everything a scalar-model worker needs to build itself."""

    kind: str  # reward | cost | critic
    model: ModelConfig
    optim: OptimConfig
    total_steps: int
    micro_batch_size: int
    seed: int
    lr: float | None = None  # None: optim.lr
    value_clip_range: float = 0.2
    torch_threads: int = 0
    zero_head: bool = False  # critic from a causal LM: start the value head at 0 (V = 0 everywhere)


class ScalarModelWorker:
    """Holds a scalar-head model and its optimizer; trains it and scores batches."""

    def __init__(self, spec: ScalarSpec) -> None:
        if spec.kind not in KINDS:
            raise ValueError(f"scalar model kind must be one of {KINDS}, got {spec.kind!r}")
        self.threads = set_torch_threads(spec.torch_threads)
        torch.manual_seed(spec.seed)
        self.spec = spec
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = load_tokenizer(spec.model)
        self.model = load_scalar_model(spec.model.path, spec.model.dtype, spec.model.trust_remote_code,
                                       self.tokenizer.pad_token_id).to(self.device)
        if spec.zero_head:
            with torch.no_grad():
                for param in _head(self.model).parameters():
                    param.zero_()
        self.trainable, self.total = apply_trainable_patterns(self.model, spec.model.trainable_patterns)
        o = spec.optim
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad], lr=spec.lr or o.lr,
            betas=(o.adam_beta1, o.adam_beta2), weight_decay=o.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_multiplier(s, spec.total_steps, o.warmup_ratio, o.scheduler)
        )

    def describe(self) -> dict[str, Any]:
        return {"kind": self.spec.kind, "trainable_parameters": self.trainable, "total_parameters": self.total,
                "torch_threads": self.threads}

    @property
    def step(self) -> int:
        return int(self.scheduler.last_epoch)

    def _to(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device) for k, v in batch.items()}

    def _ids(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)

    # -- scoring ---------------------------------------------------------------------------

    @torch.no_grad()
    def scores(self, batch: dict[str, Tensor]) -> Tensor:
        """Sequence scores [rows] (for a pair batch: chosen rows then rejected rows)."""
        self.model.eval()
        return in_row_chunks(lambda part: sequence_scores(self.model, *self._ids(part)).cpu(), batch,
                             self.spec.micro_batch_size)

    @torch.no_grad()
    def values(self, batch: dict[str, Tensor]) -> Tensor:
        """Critic values [rows, seq - 1]: entry t is V of the state before token t + 1 (aligned with
        :func:`bfpo_ray.logprobs.token_logps`)."""
        self.model.eval()
        return in_row_chunks(lambda part: token_scores(self.model, *self._ids(part))[:, :-1].cpu(), batch,
                             self.spec.micro_batch_size)

    @torch.no_grad()
    def evaluate(self, batch: dict[str, Tensor]) -> dict[str, list[float]]:
        """Per-pair accuracies on a pair batch (reward and cost kinds)."""
        scores = self.scores(batch)
        n = scores.shape[0] // 2
        stats = pairwise_stats(self.spec.kind, scores[:n], scores[n:], batch["chosen_safe"], batch["rejected_safe"])
        return {k: v.tolist() for k, v in stats.items()}

    # -- training --------------------------------------------------------------------------

    def _objective(self, micro: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        if self.spec.kind == "critic":
            width = micro["input_ids"].shape[1] - 1
            values = token_scores(self.model, micro["input_ids"], micro["attention_mask"])[:, :-1]
            mask = micro["completion_mask"][:, 1:]
            loss = losses.value_loss(values, micro["old_values"][:, :width], micro["returns"][:, :width], mask,
                                     self.spec.value_clip_range, micro.get("loss_weights"))
            return loss, {"value_loss": loss.detach()}
        scores = sequence_scores(self.model, micro["input_ids"], micro["attention_mask"])
        n = scores.shape[0] // 2
        chosen, rejected = scores[:n], scores[n:]
        if self.spec.kind == "reward":
            loss = losses.reward_model_loss(chosen, rejected)
        else:  # chosen = the safer response (pku_saferlhf with preference: safer)
            loss = losses.cost_model_loss(chosen, rejected, micro["chosen_safe"], micro["rejected_safe"])
        stats = pairwise_stats(self.spec.kind, chosen.detach(), rejected.detach(), micro["chosen_safe"],
                               micro["rejected_safe"])
        return loss, stats

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One optimizer step on the batch's mean loss (micro-batched)."""
        start = time.perf_counter()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        size = batch_size(batch)
        sums: dict[str, float] = defaultdict(float)
        for micro in micro_batches(batch, self.spec.micro_batch_size):
            loss_vec, stats = self._objective(self._to(micro))
            loss = loss_vec.sum() / size
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"{self.spec.kind} loss is {loss.item()} at step {self.step + 1}")
            loss.backward()
            sums["loss"] += loss.item()
            for key, value in stats.items():
                sums[key] += value.sum().item() / size
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.spec.optim.max_grad_norm if self.spec.optim.max_grad_norm > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if not math.isfinite(grad_norm):
            raise NonFiniteLossError(f"{self.spec.kind} gradient norm is {grad_norm} at step {self.step + 1}")
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        return {**sums, "grad_norm": grad_norm, "lr": lr, "train_seconds": time.perf_counter() - start}

    # -- saving ----------------------------------------------------------------------------

    def _write_hf(self, directory: Path) -> None:
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)

    def save_pretrained(self, directory: str) -> str:
        """HF weights (safetensors, scalar head included) + tokenizer into ``directory``."""
        target = Path(directory)
        staging = target / ".publish.tmp"
        with atomic_directory(staging) as tmp:
            self._write_hf(tmp)
        publish_files(staging, target)
        return str(target)

    def save_checkpoint(self, directory: str, trainer_state: dict[str, Any]) -> str:
        """Atomically write weights, optimizer, scheduler, RNG and ``trainer_state`` into ``directory``."""
        final = Path(directory)
        with atomic_directory(final) as tmp:
            self._write_hf(tmp)
            save_state(self.optimizer.state_dict(), tmp, "optimizer")
            save_state(self.scheduler.state_dict(), tmp, "scheduler")
            save_state(rng_state(), tmp, "rng")
            save_state(trainer_state, tmp, "trainer_state")
        return str(final)

    def load_checkpoint(self, directory: str) -> dict[str, Any]:
        """Restore weights, optimizer, scheduler and RNG; return the saved trainer state."""
        path = Path(directory)
        load_weights_from(self.model, path)
        self.optimizer.load_state_dict(load_state(path, "optimizer"))
        self.scheduler.load_state_dict(load_state(path, "scheduler"))
        set_rng_state(load_state(path, "rng"))
        return load_state(path, "trainer_state")

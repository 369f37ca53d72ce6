"""Scalar-head models: the reward model, the cost model and the PPO critics.

A causal-LM backbone with a linear head that maps every hidden state to one number, stored as
``AutoModelForSequenceClassification`` with ``num_labels=1`` (safetensors + tokenizer), so an
``rm``/``cm`` run directory loads again with transformers and with this framework. The head is
read at every position (critic values) or at the last attended token (the sequence score); the
pooling is done here from the attention mask, not by transformers' pad-token search, so a
tokenizer whose pad token equals its EOS token scores the EOS position correctly.

:class:`ScalarModelWorker` trains one such model: ``kind`` ``reward`` (Bradley-Terry),
``cost`` (Safe-RLHF) or ``critic`` (clipped value loss), alone or as one rank of a data-parallel group
(torch or DeepSpeed strategy, as the policy: :class:`~bfpo_ray.workers.trainable.TrainableWorker`).
A plain class, hosted in Ray by :mod:`actors.critic` and :mod:`actors.reward`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from bfpo_ray import losses
from bfpo_ray.config import ModelConfig, OptimConfig, StrategyConfig
from bfpo_ray.rl.rewards import last_token_index
from bfpo_ray.workers.batching import in_row_chunks
from bfpo_ray.workers.modeling import DTYPES, load_tokenizer, set_torch_threads
from bfpo_ray.workers.trainable import TrainableWorker

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
    strategy: StrategyConfig = field(default_factory=StrategyConfig)


class ScalarModelWorker(TrainableWorker):
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
        self.init_training(spec.optim, spec.lr or spec.optim.lr, spec.total_steps, spec.strategy, spec.model)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.spec.kind, "trainable_parameters": self.trainable, "total_parameters": self.total,
                "torch_threads": self.threads, "rank": self.rank, "world_size": self.world_size,
                "strategy": self.spec.strategy.name}

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
        """One optimizer step on the batch's mean loss (micro-batched); in a group, on this rank's shard with
        the mean taken over the whole batch."""
        return self.optimizer_step({self.spec.kind: batch}, self.spec.micro_batch_size, name_metrics=False)

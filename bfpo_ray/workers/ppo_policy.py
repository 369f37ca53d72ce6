"""PPO on top of the policy and reference workers: clipped policy loss, per-token log-probs, weight export.

:class:`PPOPolicyWorker` reuses :class:`~bfpo_ray.workers.policy.PolicyWorker`'s optimizer, train step
and checkpoints and only replaces the objective for PPO mini-batches (those carrying ``advantages``).
"""

from __future__ import annotations

import torch

from bfpo_ray import losses
from bfpo_ray.logprobs import token_logps
from bfpo_ray.workers.batching import PASS_ROWS, in_row_chunks
from bfpo_ray.workers.policy import PolicyWorker
from bfpo_ray.workers.reference import ReferenceWorker
from bfpo_ray.workers.weight_sync import plan_buckets, tensor_bytes

Tensor = torch.Tensor


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _token_logps(model: torch.nn.Module, batch: dict[str, Tensor], temperature: float,
                 rows: int = PASS_ROWS) -> Tensor:
    """Per-token log-probs of softmax(logits / temperature), ``rows`` rows per forward."""
    device = _device_of(model)

    def one(part: dict[str, Tensor]) -> Tensor:
        ids = part["input_ids"].to(device)
        logits = model(input_ids=ids, attention_mask=part["attention_mask"].to(device), use_cache=False).logits
        return token_logps(logits / temperature, ids).cpu()

    return in_row_chunks(one, batch, rows)


def ppo_objective(model: torch.nn.Module, micro: dict[str, Tensor], clip_range: float, entropy_coef: float = 0.0,
                  temperature: float = 1.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-example PPO loss: the clipped surrogate (:func:`bfpo_ray.losses.ppo_policy_loss`) minus an
    entropy bonus, each summed over the response with the row weight ``loss_weights`` (absent: the
    response mean):

        loss_i = w_i * sum_t mask_t * [ max(-A_t rho_t, -A_t clip(rho_t)) - entropy_coef * H_t ]

    Log-probs and entropies are those of the SAMPLING distribution, softmax(logits / temperature), so
    the ratio is on-policy for a temperature != 1. Also returns clip fraction and approximate KL to
    the rollout policy. ``old_logps``/``advantages`` are [rows, seq - 1], aligned with
    :func:`bfpo_ray.logprobs.token_logps`, possibly wider than this micro-batch (trimmed here)."""
    ids = micro["input_ids"]
    width = ids.shape[1] - 1
    logits = model(input_ids=ids, attention_mask=micro["attention_mask"], use_cache=False).logits[:, :-1]
    logits = logits.float() / temperature
    log_norm = torch.logsumexp(logits, dim=-1)
    logps = torch.gather(logits, 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1) - log_norm
    old, adv = micro["old_logps"][:, :width], micro["advantages"][:, :width]
    mask = micro["completion_mask"][:, 1:].to(logps.dtype)
    weights = micro.get("loss_weights")
    loss = losses.ppo_policy_loss(logps, old, adv, mask, clip_range, weights)
    entropy = log_norm - (torch.softmax(logits, dim=-1) * logits).sum(-1)
    if entropy_coef:
        loss = loss - entropy_coef * losses.masked_row_sums(entropy, mask, weights)
    with torch.no_grad():
        ratio = torch.exp(logps.detach() - old)
        count = mask.sum(-1).clamp(min=1.0)
        stats = {
            "entropy": (entropy.detach() * mask).sum(-1) / count,
            "clipfrac": (((ratio - 1).abs() > clip_range).float() * mask).sum(-1) / count,
            "approx_kl": (0.5 * (logps.detach() - old) ** 2 * mask).sum(-1) / count,
        }
    return loss, stats


class PPOPolicyWorker(PolicyWorker):
    """The trainable PPO policy (hosted by :mod:`actors.ppo`)."""

    _buckets: list[list[str]] | None = None

    def _objective(self, micro: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        if "advantages" not in micro:
            return super()._objective(micro)
        a = self.spec.algorithm
        return ppo_objective(self.model, micro, a.clip_range, a.entropy_coef, self.spec.sampling_temperature)

    def token_logps(self, batch: dict[str, Tensor]) -> Tensor:
        """log pi(x_t | x_<t) [rows, seq - 1] under the current weights and the sampling temperature
        (the rollout policy's log-probs)."""
        self.model.eval()
        with self.precision():  # the same numerics as the training forward
            return _token_logps(self.model, batch, self.spec.sampling_temperature, self.spec.micro_batch_size)

    def weight_buckets(self, bucket_mb: float) -> tuple[int, int]:
        """Plan the weight-sync buckets (parameters in named_parameters order): (buckets, total bytes)."""
        sizes = [(name, tensor_bytes(p)) for name, p in self.model.named_parameters()]
        self._buckets = plan_buckets(sizes, int(bucket_mb * 2**20))
        return len(self._buckets), sum(size for _, size in sizes)

    def weight_bucket(self, index: int) -> dict[str, Tensor]:
        """The tensors of bucket ``index`` (CPU copies in the model's dtype), one object for the object store;
        empty on ranks other than 0 (every rank holds, or under ZeRO-3 gathers, the same weights).

        Under ZeRO-3 the bucket's parameters are gathered first (every rank must call this)."""
        if self._buckets is None:
            raise RuntimeError("call weight_buckets(bucket_mb) first")
        params = dict(self.model.named_parameters())
        names = self._buckets[index]
        with self.strategy.gathered([params[name] for name in names]):
            if self.rank != 0:
                return {}
            return {name: params[name].detach().to("cpu", dtype=self.autocast_dtype or params[name].dtype, copy=True)
                    for name in names}

    def fingerprint(self) -> str:
        from bfpo_ray.workers.modeling import weights_fingerprint

        return weights_fingerprint(self.model)


class PPOReferenceWorker(ReferenceWorker):
    """The frozen reference with per-token log-probs for the KL penalty."""

    def token_logps(self, batch: dict[str, Tensor], temperature: float = 1.0) -> Tensor:
        """log pi_ref(x_t | x_<t) [rows, seq - 1] of softmax(logits / temperature)."""
        return _token_logps(self.model, batch, temperature)

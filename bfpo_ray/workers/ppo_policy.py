"""PPO on top of the policy and reference workers: clipped policy loss, per-token log-probs, weight export.

:class:`PPOPolicyWorker` reuses :class:`~bfpo_ray.workers.policy.PolicyWorker`'s optimizer, train step
and checkpoints and only replaces the objective for PPO mini-batches (those carrying ``advantages``).
"""

from __future__ import annotations

import torch

from bfpo_ray import losses
from bfpo_ray.logprobs import token_logps
from bfpo_ray.workers.policy import PolicyWorker
from bfpo_ray.workers.reference import ReferenceWorker
from bfpo_ray.workers.weight_sync import plan_buckets, tensor_bytes

Tensor = torch.Tensor


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _token_logps(model: torch.nn.Module, batch: dict[str, Tensor]) -> Tensor:
    device = _device_of(model)
    logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                   use_cache=False).logits
    return token_logps(logits, batch["input_ids"].to(device)).cpu()


def ppo_objective(model: torch.nn.Module, micro: dict[str, Tensor], clip_range: float
                  ) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-example PPO clipped loss (:func:`bfpo_ray.losses.ppo_policy_loss`) plus entropy, clip fraction
    and approximate KL to the rollout policy. ``old_logps``/``advantages`` are [rows, seq - 1], aligned
    with :func:`bfpo_ray.logprobs.token_logps`, possibly wider than this micro-batch (trimmed here)."""
    ids = micro["input_ids"]
    width = ids.shape[1] - 1
    logits = model(input_ids=ids, attention_mask=micro["attention_mask"], use_cache=False).logits
    logps = token_logps(logits, ids)
    old, adv = micro["old_logps"][:, :width], micro["advantages"][:, :width]
    mask = micro["completion_mask"][:, 1:].to(logps.dtype)
    loss = losses.ppo_policy_loss(logps, old, adv, mask, clip_range)
    with torch.no_grad():
        logp_all = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1)
        ratio = torch.exp(logps.detach() - old)
        count = mask.sum(-1).clamp(min=1.0)
        stats = {
            "entropy": (entropy * mask).sum(-1) / count,
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
        return ppo_objective(self.model, micro, self.spec.algorithm.clip_range)

    def token_logps(self, batch: dict[str, Tensor]) -> Tensor:
        """log pi(x_t | x_<t) [rows, seq - 1] under the current weights (the rollout policy's log-probs)."""
        self.model.eval()
        return _token_logps(self.model, batch)

    def weight_buckets(self, bucket_mb: float) -> tuple[int, int]:
        """Plan the weight-sync buckets (parameters in named_parameters order): (buckets, total bytes)."""
        sizes = [(name, tensor_bytes(p)) for name, p in self.model.named_parameters()]
        self._buckets = plan_buckets(sizes, int(bucket_mb * 2**20))
        return len(self._buckets), sum(size for _, size in sizes)

    def weight_bucket(self, index: int) -> dict[str, Tensor]:
        """The tensors of bucket ``index`` (CPU copies), one object for the object store."""
        if self._buckets is None:
            raise RuntimeError("call weight_buckets(bucket_mb) first")
        params = dict(self.model.named_parameters())
        return {name: params[name].detach().to("cpu", copy=True) for name in self._buckets[index]}

    def fingerprint(self) -> str:
        from bfpo_ray.workers.modeling import weights_fingerprint

        return weights_fingerprint(self.model)


class PPOReferenceWorker(ReferenceWorker):
    """The frozen reference with per-token log-probs for the KL penalty."""

    def token_logps(self, batch: dict[str, Tensor]) -> Tensor:
        return _token_logps(self.model, batch)

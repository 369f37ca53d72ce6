"""``strategy: deepspeed``: ZeRO stage 0-3 around a torch AdamW, optional CPU offload, bf16 on GPU.

On CPU it runs with ``DS_ACCELERATOR=cpu`` over gloo; the optimizer is a torch AdamW with
``zero_force_ds_cpu_optimizer: false`` so that DeepSpeed's JIT-compiled Adam ops are never
built. DeepSpeed AVERAGES gradients over ranks, so the worker's loss (already divided by
the global part size) is multiplied by the world size.

Forwards go through the plain module (see the pre-hook below). Accumulation is driven by
the worker: every micro-batch calls ``backward`` and the last one marks the boundary, so
the number of micro-batches may differ between parts
and steps. Checkpoints use DeepSpeed's own per-rank files (``deepspeed/`` in the step dir).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from bfpo_ray.config import StrategyConfig
from bfpo_ray.strategies.base import NonFiniteGradientError, Strategy, check_norm

if not torch.cuda.is_available():
    os.environ.setdefault("DS_ACCELERATOR", "cpu")

import deepspeed  # noqa: E402

TAG = "zero"


def _skip_shm_comm_build() -> None:
    """DeepSpeed's CPU accelerator JIT-compiles a shared-memory all-reduce op (~1 min) on first
    use; the group already talks over gloo, so mark that op incompatible and skip the build."""
    from deepspeed.accelerator import get_accelerator

    if get_accelerator().device_name() != "cpu":
        return
    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is not None:
        deepspeed.ops.__compatible_ops__[builder.NAME] = False


_skip_shm_comm_build()


def deepspeed_config(cfg: StrategyConfig, max_grad_norm: float) -> dict:
    zero: dict = {"stage": cfg.zero_stage}
    if cfg.offload and cfg.zero_stage >= 1:
        zero["offload_optimizer"] = {"device": "cpu"}
    if cfg.offload and cfg.zero_stage == 3:
        zero["offload_param"] = {"device": "cpu"}
    return {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": float(max_grad_norm),
        "zero_optimization": zero,
        "bf16": {"enabled": bool(cfg.bf16 and torch.cuda.is_available())},
        "zero_force_ds_cpu_optimizer": False,
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


class DeepSpeedStrategy(Strategy):
    sharded_state = True

    def __init__(self, cfg: StrategyConfig, model, optimizer, scheduler, max_grad_norm: float, rank: int,
                 world_size: int) -> None:
        super().__init__(model, optimizer, scheduler, max_grad_norm, rank, world_size)
        self.loss_scale = float(world_size)
        self.engine, self.ds_optimizer, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler,
            config=deepspeed_config(cfg, max_grad_norm), dist_init_required=False,
        )
        self.stage = cfg.zero_stage
        # The worker runs forwards through ``model`` itself (subclasses may too), not through the
        # engine; the engine's forward tells ZeRO that a new micro-batch starts (stage 3 would
        # otherwise overwrite instead of accumulate gradients), so do that in a pre-hook.
        clear = getattr(self.engine.optimizer, "clear_backward_seen_flag", None)
        if clear is not None:
            model.register_forward_pre_hook(lambda *_: clear())

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        self.engine.set_gradient_accumulation_boundary(last)
        self.engine.backward(loss)

    def step(self) -> float:
        """Step optimizer and scheduler; a non-finite gradient never reaches the weights.

        ZeRO 1-3 check for inf/NaN themselves and skip the update (``was_step_applied``); stage 0 steps
        a plain optimizer, so its (already all-reduced) gradients are checked here first. Either way
        NonFiniteGradientError then means: this step changed nothing.
        """
        self.engine.set_gradient_accumulation_boundary(True)
        if self.stage == 0:
            grads = [p.grad.detach().float().norm() for p in self.model.parameters() if p.grad is not None]
            local = float(torch.stack(grads).norm()) if grads else 0.0
            if not math.isfinite(local):
                self.zero_grad()
                raise NonFiniteGradientError(local)
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        norm = float(norm) if norm is not None else 0.0
        if not self.engine.was_step_applied():
            raise NonFiniteGradientError(norm if not math.isfinite(norm) else float("nan"))
        return check_norm(norm)

    def zero_grad(self) -> None:
        self.engine.zero_grad()

    def full_weights(self):
        if self.stage == 3:
            return deepspeed.zero.GatheredParameters(list(self.model.parameters()), modifier_rank=None)
        return super().full_weights()

    def gathered(self, params):
        if self.stage == 3:
            return deepspeed.zero.GatheredParameters(params, modifier_rank=None)
        return super().gathered(params)

    def save_sharded(self, directory: Path) -> None:
        self.engine.save_checkpoint(str(directory), tag=TAG, save_latest=False)

    def load_sharded(self, directory: Path) -> None:
        self.engine.load_checkpoint(str(directory), tag=TAG, load_optimizer_states=True,
                                    load_lr_scheduler_states=True)

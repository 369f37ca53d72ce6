"""What every trained model of a run shares: the optimizer step under a strategy, the data-parallel group,
fp32 master weights and atomic checkpoints.

:class:`TrainableWorker` is the base of the policy (:mod:`.policy`) and of the scalar-head models (reward,
cost, critics: :mod:`.scalar_model`). A subclass loads its model and tokenizer, calls
:meth:`TrainableWorker.init_training`, and defines ``_objective(micro) -> (per-row losses, per-row stats)``.
One worker trains alone; N workers form a data-parallel group after :meth:`init_distributed` (called on
every rank at once by :mod:`actors.group`), each rank receiving its shard of every batch.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

from bfpo_ray.checkpoint import (
    atomic_directory,
    load_state,
    prune_checkpoints,
    publish_files,
    rng_state,
    save_state,
    set_rng_state,
)
from bfpo_ray.config import ModelConfig, OptimConfig, StrategyConfig
from bfpo_ray.strategies import NonFiniteGradientError, Strategy, build_strategy, free_port, init_process_group
from bfpo_ray.workers.batching import batch_size, micro_batches
from bfpo_ray.workers.compilation import compile_model
from bfpo_ray.workers.modeling import apply_trainable_patterns, load_weights_from

Batch = dict[str, torch.Tensor]


class NonFiniteLossError(RuntimeError):
    """The loss or gradient norm became NaN/Inf; the weights were left untouched."""


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


class TrainableWorker:
    """A model, its AdamW and LR schedule under a strategy (torch or DeepSpeed), alone or as one rank of a group."""

    model: torch.nn.Module
    tokenizer: Any
    device: torch.device

    def init_training(self, optim: OptimConfig, lr: float, total_steps: int, strategy: StrategyConfig,
                      model: ModelConfig) -> None:
        """Freeze what ``model.trainable_patterns`` leaves out, keep fp32 masters of low-precision weights (torch
        strategy), compile the model when asked, build the optimizer and schedule; the strategy itself is built
        on first use."""
        self.strategy_config = strategy
        self.max_grad_norm = optim.max_grad_norm
        self.trainable, self.total = apply_trainable_patterns(self.model, model.trainable_patterns)
        self.autocast_dtype = keep_fp32_masters(self.model) if strategy.name == "torch" else None
        own_trainable_memory(self.model)
        self.compiled = model.compile and compile_model(self.model)
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad], lr=lr,
            betas=(optim.adam_beta1, optim.adam_beta2), weight_decay=optim.weight_decay, fused=optim.fused or None,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_multiplier(s, total_steps, optim.warmup_ratio, optim.scheduler)
        )
        self.rank, self.world_size = 0, 1
        self._strategy: Strategy | None = None

    def _objective(self, micro: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    # -- data-parallel group -------------------------------------------------------------

    def rendezvous(self) -> tuple[str, str, int]:
        """(node id, node IP, free port) of this worker: rank 0's become MASTER_ADDR/PORT."""
        try:
            import ray

            node_id, ip = ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
        except Exception:  # outside Ray
            node_id, ip = "local", "127.0.0.1"
        return node_id, ip, free_port("127.0.0.1" if ip == "127.0.0.1" else "0.0.0.0")

    def init_distributed(self, master_addr: str, master_port: int, rank: int, world_size: int) -> int:
        """Join the group and build the strategy; every rank must call this concurrently."""
        init_process_group(self.strategy_config.backend, master_addr, master_port, rank, world_size)
        self.rank, self.world_size = rank, world_size
        self._strategy = None
        return self.strategy.world_size

    @property
    def strategy(self) -> Strategy:
        if self._strategy is None:
            if self.strategy_config.name == "deepspeed" and not torch.distributed.is_initialized():
                init_process_group(self.strategy_config.backend, "127.0.0.1", free_port(), 0, 1)
            self._strategy = build_strategy(self.strategy_config, self.model, self.optimizer, self.scheduler,
                                            self.max_grad_norm, self.rank, self.world_size)
        return self._strategy

    @property
    def step(self) -> int:
        return int(self.scheduler.last_epoch)

    # -- training ------------------------------------------------------------------------

    def precision(self) -> AbstractContextManager:
        """Forwards in the model's dtype over fp32 master weights (autocast), or as they are."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def optimizer_step(self, parts: dict[str, Batch], micro_batch_size: int, name_metrics: bool) -> dict[str, float]:
        """One optimizer step on L = sum over parts of (sum of the part's per-row losses / the part's GLOBAL size).

        In a group each rank holds a shard of every part; dividing by the global size makes the summed
        gradient the one a single worker gets on the whole batch. Metrics are this rank's additive shares
        (combine ranks with :func:`merge_metrics`); ``name_metrics`` suffixes them with the part's name
        (``loss_safety``) and adds their total as ``loss``. A NaN loss on any rank or a NaN gradient norm
        raises :class:`NonFiniteLossError` with the weights untouched.
        """
        start = time.perf_counter()
        strategy = self.strategy
        self.model.train()
        strategy.zero_grad()
        names = list(parts)
        sizes = dict(zip(names, strategy.all_sum([float(batch_size(parts[n])) for n in names]), strict=True))
        micros = [(n, m) for n in names for m in micro_batches(parts[n], micro_batch_size)]
        # metrics stay on the device until the end of the step: one host sync for all of them
        sums: dict[str, torch.Tensor] = {}
        tokens = 0
        for index, (name, micro) in enumerate(micros):
            tokens += int(micro["attention_mask"].sum())  # on the host, before the copy
            micro = {k: v.to(self.device, non_blocking=True) for k, v in micro.items()}
            with self.precision():
                loss_vec, stats = self._objective(micro)
            loss = loss_vec.sum() / sizes[name]
            strategy.backward(loss * strategy.loss_scale, last=index == len(micros) - 1)
            suffix = f"_{name}" if name_metrics else ""
            shares = {"loss": loss, **{k: v.sum() / sizes[name] for k, v in stats.items()}}
            for key, value in shares.items():
                key, value = f"{key}{suffix}", value.detach().float()  # detached: no graph kept past backward
                sums[key] = sums[key] + value if key in sums else value
        values = dict(zip(sums, torch.stack(list(sums.values())).tolist(), strict=True))
        part_loss = {n: values[f"loss_{n}" if name_metrics else "loss"] for n in names}
        bad = next((f"{n} loss is {v}" for n, v in part_loss.items() if not math.isfinite(v)), None)
        if strategy.all_sum([1.0 if bad else 0.0])[0] > 0:
            strategy.zero_grad()
            raise NonFiniteLossError(f"{bad or 'loss is nan on another rank'} at step {self.step + 1}")
        lr = self.scheduler.get_last_lr()[0]
        try:
            grad_norm = strategy.step()
        except NonFiniteGradientError as err:
            raise NonFiniteLossError(f"gradient norm is {err.norm} at step {self.step + 1}") from err
        seconds = time.perf_counter() - start
        metrics = dict(values)
        if name_metrics:
            metrics["loss"] = sum(v for k, v in values.items() if k.startswith("loss_"))
        metrics.update(grad_norm=grad_norm, lr=lr, tokens=tokens, train_seconds=seconds,
                       tokens_per_s=tokens / max(seconds, 1e-9))
        return metrics

    # -- checkpoints (every rank calls; rank 0 writes) -------------------------------------

    def _write_hf(self, directory: Path, masters: bool = True) -> None:
        """HF weights and tokenizer; ``masters=False`` writes fp32 master weights in the model's dtype."""
        with nullcontext() if masters or self.autocast_dtype is None else weights_as(self.model, self.autocast_dtype):
            self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)

    def save_pretrained(self, directory: str) -> str:
        """Write HF weights (safetensors) + tokenizer into ``directory``, file by file atomically.

        In a group every rank must call it (ZeRO-3 gathers the weights); rank 0 writes.
        """
        target = Path(directory)
        with self.strategy.full_weights():
            if self.rank == 0:
                staging = target / ".publish.tmp"
                with atomic_directory(staging) as tmp:
                    self._write_hf(tmp, masters=False)
                publish_files(staging, target)
        self.strategy.barrier()
        return str(target)

    def save_checkpoint(self, directory: str, trainer_state: dict[str, Any], keep_last: int = 0) -> str:
        """Atomically write weights, optimizer, scheduler, RNG and ``trainer_state``; with ``keep_last`` > 0,
        prune older checkpoints beside it.

        Every rank calls it. The torch strategy's state is replicated, so rank 0 writes it
        all; a partitioned (DeepSpeed) state is first written by every rank into a staging
        directory that rank 0 then moves into the checkpoint as ``deepspeed/``.
        """
        final = Path(directory)
        strategy = self.strategy
        sharded = final.parent / f".{final.name}.sharded"
        if strategy.sharded_state:
            strategy.save_sharded(sharded)
            strategy.barrier()
        with strategy.full_weights():
            if self.rank == 0:
                with atomic_directory(final) as tmp:
                    self._write_hf(tmp)
                    if strategy.sharded_state:
                        os.replace(sharded, tmp / "deepspeed")
                    else:
                        save_state(self.optimizer.state_dict(), tmp, "optimizer")
                    save_state(self.scheduler.state_dict(), tmp, "scheduler")
                    save_state(rng_state(), tmp, "rng")
                    save_state(trainer_state, tmp, "trainer_state")
                if keep_last > 0:
                    prune_checkpoints(final.parent, keep_last)
        strategy.barrier()
        return str(final)

    def load_checkpoint(self, directory: str) -> dict[str, Any]:
        """Restore weights, optimizer, scheduler and RNG; return the saved trainer state (every rank calls it)."""
        path = Path(directory)
        strategy = self.strategy
        if (path / "deepspeed").is_dir():
            if not strategy.sharded_state:
                raise ValueError(f"{path}: written by strategy deepspeed; this run uses {self.strategy_config.name}")
            strategy.load_sharded(path / "deepspeed")
        else:
            if strategy.sharded_state:
                raise ValueError(f"{path}: written by strategy torch; this run uses deepspeed")
            load_weights_from(self.model, path)
            self.optimizer.load_state_dict(load_state(path, "optimizer"))
            self.scheduler.load_state_dict(load_state(path, "scheduler"))
        set_rng_state(load_state(path, "rng"))
        return load_state(path, "trainer_state")


#: metrics that are the same on every rank (taken from rank 0) or a maximum; the rest add up
_SHARED = ("grad_norm", "lr")


def merge_metrics(per_rank: list[dict[str, float]]) -> dict[str, float]:
    """Combine the ranks' train_step metrics into the group's: additive shares are summed
    (each rank already divided by the global part size), grad_norm/lr come from rank 0,
    train_seconds is the slowest rank's and tokens_per_s is recomputed from the totals."""
    if len(per_rank) == 1:
        return dict(per_rank[0])
    merged: dict[str, float] = {}
    for key in per_rank[0]:
        if key in _SHARED:
            merged[key] = per_rank[0][key]
        elif key == "train_seconds":
            merged[key] = max(m[key] for m in per_rank)
        elif key != "tokens_per_s":
            merged[key] = sum(m[key] for m in per_rank)
    merged["tokens_per_s"] = merged["tokens"] / max(merged["train_seconds"], 1e-9)
    return merged


def keep_fp32_masters(model: torch.nn.Module) -> torch.dtype | None:
    """Trainable bf16/fp16 parameters become fp32 master weights (frozen ones stay as loaded); returns the
    dtype forwards should autocast to, or None for a float32 model.

    AdamW updates on bf16 weights mostly round away (measured: at lr 1e-6 only 1.9% of the weights
    change in 10 steps); on fp32 masters every update accumulates."""
    dtypes = {p.dtype for p in model.parameters() if p.dtype.is_floating_point}
    low = [d for d in dtypes if d in (torch.bfloat16, torch.float16)]
    if not low:
        return None
    for param in model.parameters():
        if param.requires_grad and param.dtype in (torch.bfloat16, torch.float16):
            param.data = param.data.float()
    return low[0]


def own_trainable_memory(model: torch.nn.Module) -> None:
    """Copy trainable parameters out of memory torch does not own into its own allocations.

    Transformers loads CPU weights as views of the safetensors file's private memory map: the optimizer's first
    write to each page then faults and copies it from the page cache (measured: the first fused AdamW step of
    a 35M model 0.33 s against 0.02 s later, and 0.10 s after this 0.04 s copy). Such storage is the one torch
    cannot resize; parameters already in torch's memory (fp32 masters, GPU copies) are left alone.
    """
    for param in model.parameters():
        if param.requires_grad and not param.untyped_storage().resizable():
            param.data = param.data.clone()


@contextmanager
def weights_as(model: torch.nn.Module, dtype: torch.dtype) -> Iterator[None]:
    """Every floating-point parameter temporarily held in ``dtype``; the originals come back exactly."""
    saved = {}
    for param in model.parameters():
        if param.dtype.is_floating_point and param.dtype != dtype and id(param) not in saved:
            saved[id(param)] = (param, param.data)
            param.data = param.data.to(dtype)
    try:
        yield
    finally:
        for param, data in saved.values():
            param.data = data

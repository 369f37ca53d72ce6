"""Process-group setup and the strategy interface."""

from __future__ import annotations

import math
import os
import socket
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from bfpo_ray.config import StrategyConfig


class NonFiniteGradientError(RuntimeError):
    """The gradient norm is NaN/Inf (the torch strategy raises before stepping)."""

    def __init__(self, norm: float) -> None:
        super().__init__(f"gradient norm is {norm}")
        self.norm = norm


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def resolve_backend(name: str) -> str:
    """``auto``: nccl when CUDA is available, gloo otherwise."""
    if name == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    return name


def init_process_group(backend: str, master_addr: str, master_port: int, rank: int, world_size: int) -> None:
    """Join the group (blocks until all ``world_size`` ranks have called it)."""
    os.environ.update(MASTER_ADDR=master_addr, MASTER_PORT=str(master_port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK="0")
    if dist.is_initialized():
        return
    if backend == "gloo" and master_addr == "127.0.0.1":
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(backend=resolve_backend(backend), init_method=f"tcp://{master_addr}:{master_port}",
                            rank=rank, world_size=world_size, timeout=timedelta(minutes=30))


class Strategy:
    """Turns the losses of one optimizer step into one update, identically on every rank."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler, max_grad_norm: float,
                 rank: int = 0, world_size: int = 1) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.max_grad_norm = max_grad_norm
        self.rank = rank
        self.world_size = world_size

    #: factor on each worker's loss so that the group's gradient reduction yields the global gradient
    loss_scale: float = 1.0
    #: whether save_checkpoint must write per-rank state (the optimizer state is partitioned)
    sharded_state: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 and dist.is_initialized()

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        loss.backward()

    def step(self) -> float:
        """Reduce, clip, step optimizer and scheduler; the gradient norm before clipping."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def all_sum(self, values: list[float]) -> list[float]:
        """Elementwise sum of ``values`` over the group (identity on one worker)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    @property
    def comm_device(self) -> torch.device:
        return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def full_weights(self) -> AbstractContextManager:
        """Context in which ``model`` holds its full weights (collective for ZeRO-3: every rank enters)."""
        return nullcontext()

    def gathered(self, params: list[torch.nn.Parameter]) -> AbstractContextManager:
        """Context in which ``params`` hold their full values (ZeRO-3: gathered; every rank enters)."""
        return nullcontext()

    def save_sharded(self, directory: Path) -> None:
        """Write per-rank training state into ``directory`` (every rank calls it)."""
        raise NotImplementedError

    def load_sharded(self, directory: Path) -> None:
        raise NotImplementedError


def check_norm(norm: float) -> float:
    if not math.isfinite(norm):
        raise NonFiniteGradientError(norm)
    return norm


def build_strategy(cfg: StrategyConfig, model: torch.nn.Module, optimizer, scheduler, max_grad_norm: float,
                   rank: int, world_size: int) -> Strategy:
    """The configured strategy; a process group must exist for deepspeed and for world_size > 1."""
    if cfg.name == "deepspeed":
        from bfpo_ray.strategies.deepspeed_zero import DeepSpeedStrategy

        return DeepSpeedStrategy(cfg, model, optimizer, scheduler, max_grad_norm, rank, world_size)
    from bfpo_ray.strategies.torch_ddp import TorchStrategy

    return TorchStrategy(model, optimizer, scheduler, max_grad_norm, rank, world_size)

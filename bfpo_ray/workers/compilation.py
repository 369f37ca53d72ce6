"""``model.compile``: torch.compile of a worker's model, eager where this machine cannot compile."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def compiler_missing(device: torch.device) -> str | None:
    """Why inductor cannot build kernels for ``device`` here (no C++ compiler on CPU, no Triton on GPU), or None."""
    try:
        if device.type == "cpu":
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        else:
            import triton  # noqa: F401
    except Exception as err:  # the compiler probe raises different errors across torch versions
        return f"{type(err).__name__}: {err}"
    return None


def compile_model(model: torch.nn.Module) -> bool:
    """Compile ``model`` in place (its forward, and so its backward) with dynamic shapes, since micro-batches
    differ in length; returns False and keeps it eager, with a warning, when the compiler is unavailable.

    The module keeps its class, parameters and state-dict keys, so checkpoints and weight sync are unchanged.
    A graph the compiler fails on later runs eagerly (dynamo's ``suppress_errors``) instead of stopping the run.
    """
    device = next(model.parameters()).device
    reason = compiler_missing(device)
    if reason is not None:
        log.warning("model.compile: no compiler for %s here (%s); the model runs eagerly", device.type, reason)
        return False
    torch._dynamo.config.suppress_errors = True
    model.compile(dynamic=True)
    return True

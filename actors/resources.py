"""Ray resource options for a role (fractional CPUs/GPUs, torch thread count)."""

from __future__ import annotations

import os
from typing import Any

from bfpo_ray.config import RoleConfig


def role_options(role: RoleConfig) -> dict[str, Any]:
    """``.options(...)`` for one worker of a role.

    Ray sets OMP_NUM_THREADS to the actor's CPU count (1 when fractional), which starves
    torch; the worker sets its own thread count from ``role.torch_threads`` and the env
    var here keeps libraries initialised before that in line. A role without GPUs sees none, so
    it runs on CPU even on a GPU node.
    """
    threads = role.torch_threads if role.torch_threads > 0 else (os.cpu_count() or 1)
    env = {"OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    if role.num_gpus_per_worker == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # Ray leaves it unset for zero-GPU actors: they would all pile onto GPU 0
    return {
        "num_cpus": role.num_cpus_per_worker,
        "num_gpus": role.num_gpus_per_worker,
        "runtime_env": {"env_vars": env},
        "max_concurrency": 1,
    }

"""Connecting to Ray: an existing cluster by address, or an embedded local one."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray

from bfpo_ray.config import RayConfig

log = logging.getLogger(__name__)


@contextmanager
def ray_session(cfg: RayConfig) -> Iterator[None]:
    """Use the Ray already initialised in this process, else connect/start one for the block.

    ``cfg.address`` None starts a local single-node Ray with the dashboard off and Ray's token
    authentication (on by default since Ray 2.5x); ``auto`` or ``ray://...`` joins a cluster (as
    under ``ray job submit``). Ray itself rewrites a loopback node address to the machine's
    address, so its gRPC ports are not loopback-only; token authentication guards them.
    """
    if ray.is_initialized():
        yield
        return
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(
            num_cpus=cfg.num_cpus,
            include_dashboard=False,
            configure_logging=False,
            log_to_driver=True,
        )
    log.info("ray resources: %s", ray.cluster_resources())
    try:
        yield
    finally:
        ray.shutdown()

"""Connecting to Ray: an existing cluster by address, or an embedded local one."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray

from bfpo_ray.config import RayConfig

log = logging.getLogger(__name__)


#: Ray waits a fixed 30 s for a new local node to register; a busy machine can miss that
_LOCAL_START_TRIES = 3


def start_local_ray(num_cpus: float | None, log_to_driver: bool = True, num_gpus: int | None = None) -> None:
    """Start a NEW embedded single-node Ray (``address="local"``: never join another process's instance;
    dashboard off); ``num_gpus`` declares logical GPUs (the tests' simulated GPU nodes). A node that timed
    out during startup (Ray's fixed 30 s wait, missed on an overloaded machine) is shut down and started
    again, up to 3 tries."""
    for attempt in range(1, _LOCAL_START_TRIES + 1):
        try:
            ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                     configure_logging=False, log_to_driver=log_to_driver)
            return
        except Exception as err:  # Ray raises a bare Exception for this timeout
            if "timed out during startup" not in str(err) or attempt == _LOCAL_START_TRIES:
                raise
            log.warning("local Ray node timed out during startup (busy machine?); retrying (%d of %d)",
                        attempt + 1, _LOCAL_START_TRIES)
            ray.shutdown()


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
        start_local_ray(cfg.num_cpus)
    log.info("ray resources: %s", ray.cluster_resources())
    try:
        yield
    finally:
        ray.shutdown()

"""Shared fixtures: a built safety world and one local Ray cluster per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory):
    """The safety world (data files + random tiny Llama in ``base/``), built once."""
    from bfpo_ray.world import build_world_base_model

    root = tmp_path_factory.mktemp("world")
    build_world_base_model(root, seed=0)
    return root


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray (2 CPUs) shared by the tests that run actors; drivers reuse it."""
    import ray

    from bfpo_ray.ray_session import start_local_ray

    start_local_ray(num_cpus=2, log_to_driver=False)
    yield
    ray.shutdown()

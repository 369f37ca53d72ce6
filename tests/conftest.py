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


@pytest.fixture(scope="session")
def scalar_models(world_dir, tmp_path_factory):
    """Untrained reward and cost models (the world's base backbone + a fresh scalar head) in HF format."""
    import torch
    from transformers import AutoTokenizer

    from bfpo_ray.workers.scalar_model import load_scalar_model

    root = tmp_path_factory.mktemp("scalar")
    tokenizer = AutoTokenizer.from_pretrained(world_dir / "base")
    paths = {}
    for seed, name in enumerate(("rm", "cm")):
        torch.manual_seed(seed)
        model = load_scalar_model(str(world_dir / "base"), pad_token_id=tokenizer.pad_token_id)
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        paths[name] = root / name
    return paths

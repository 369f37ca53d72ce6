"""Data-parallel policy groups on a real local Ray: sharding, placement (split and colocated),
the same loss curve as one worker with the same global batch, and resume with two ranks.

Tolerance: per-step loss, gradient norm and margins within rel 1e-4 (or abs 1e-4) of the single worker (measured
~1e-5: only the float summation order differs), final weights within 3e-5 (Adam's normalised steps amplify that
rounding: measured 6.6e-6 with each row packed on its own and 1.0e-5 with each pair's prompt shared, the default;
a lost shard or a wrong gradient scale moves weights by ~lr = 1e-3 a step).
"""

import pytest
import torch
from safetensors.torch import load_file

from actors.group import Placements, bundle_of, shard_batch
from bfpo_ray.config import ConfigError, RoleConfig, load_config
from bfpo_ray.drivers.offline import train
from bfpo_ray.run_log import read_metrics
from bfpo_ray.workers.trainable import merge_metrics

LOSS_RTOL = 1e-4
WEIGHT_ATOL = 3e-5


def config(world_dir, out, cache, **overrides):
    base = {
        "world.dir": world_dir, "model.path": world_dir / "base", "trainer.output_dir": out,
        "data.cache_dir": cache, "data.train[0].fraction": 0.05, "data.buffer[0].fraction": 0.05,
        "trainer.train_batch_size": 8, "trainer.micro_batch_size": 2, "trainer.max_steps": 4,
        "trainer.save_every": 0, "trainer.log_every": 1, "optim.lr": 1e-3, "optim.warmup_ratio": 0,
        "policy.torch_threads": 1, "reference.torch_threads": 1,
    }
    base.update(overrides)
    return load_config("configs/demo/bfpo.yaml", [f"{k}={v}" for k, v in base.items()])


def assert_same_curve(a, b, rtol=LOSS_RTOL):
    ra, rb = read_metrics(a), read_metrics(b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for x, y in zip(ra, rb, strict=True):
        for key in ("loss", "loss_safety", "loss_buffer", "grad_norm", "accuracy_safety", "margin_h_buffer"):
            assert y[key] == pytest.approx(x[key], rel=rtol, abs=1e-4), (x["step"], key)
        assert y["tokens"] == x["tokens"]


def max_weight_diff(a, b):
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


@pytest.fixture(scope="module")
def single(world_dir, tmp_path_factory, ray_cluster):
    """The reference curve: one policy worker, global batch 8 in micro-batches of 2."""
    root = tmp_path_factory.mktemp("single")
    return train(config(world_dir, root / "run", root / "cache"))


def test_shard_batch_splits_pairs_and_trims():
    n, width = 4, 10
    batch = {"input_ids": torch.arange(2 * n * width).view(2 * n, width),
             "attention_mask": torch.ones(2 * n, width, dtype=torch.long),
             "completion_mask": torch.ones(2 * n, width, dtype=torch.long),
             "chosen_safe": torch.tensor([1.0, 0, 1, 0]), "rejected_safe": torch.tensor([0.0, 1, 0, 1])}
    batch["attention_mask"][[2, 3, 6, 7], 5:] = 0  # the second shard's rows are shorter
    first, second = shard_batch(batch, 2)
    assert torch.equal(first["input_ids"], batch["input_ids"][[0, 1, 4, 5]])
    assert second["input_ids"].shape == (4, 5) and torch.equal(second["chosen_safe"], torch.tensor([1.0, 0]))
    with pytest.raises(ValueError, match="cannot be split"):
        shard_batch(batch, 5)


def test_merge_metrics_sums_shares_and_keeps_shared_values():
    a = {"loss": 1.0, "loss_x": 1.0, "tokens": 10, "grad_norm": 3.0, "lr": 0.1, "train_seconds": 2.0, "tokens_per_s": 5}
    b = {"loss": 2.0, "loss_x": 2.0, "tokens": 30, "grad_norm": 3.0, "lr": 0.1, "train_seconds": 4.0, "tokens_per_s": 7}
    m = merge_metrics([a, b])
    assert m == {"loss": 3.0, "loss_x": 3.0, "tokens": 40, "grad_norm": 3.0, "lr": 0.1, "train_seconds": 4.0,
                 "tokens_per_s": 10.0}


def test_placements_size_colocated_bundles_by_the_larger_ask():
    roles = {"policy": RoleConfig(num_workers=2, num_cpus_per_worker=0.5, num_gpus_per_worker=0.25),
             "reference": RoleConfig(num_workers=2, num_cpus_per_worker=0.25, num_gpus_per_worker=0.25,
                                     colocate_with="policy")}
    placements = Placements(roles)
    assert placements.host_of("reference") == "policy" and placements.sharers("policy") == ["policy", "reference"]
    assert bundle_of(list(roles.values())) == {"CPU": 0.5, "GPU": 0.25}  # they take turns: max, not sum


def test_colocation_config_is_checked(world_dir, tmp_path):
    with pytest.raises(ConfigError, match="reference.colocate_with"):
        config(world_dir, tmp_path, tmp_path, **{"reference.colocate_with": "policy", "policy.num_workers": 2})
    with pytest.raises(ConfigError, match="strategy.name"):
        config(world_dir, tmp_path, tmp_path, **{"strategy.name": "fsdp"})


@pytest.mark.slow
def test_two_torch_workers_match_one_worker(world_dir, tmp_path, single):
    out = train(config(world_dir, tmp_path / "run", tmp_path / "cache", **{
        "policy.num_workers": 2, "policy.num_cpus_per_worker": 1, "reference.num_workers": 2}))
    assert_same_curve(single, out)
    assert max_weight_diff(single, out) <= WEIGHT_ATOL


@pytest.mark.slow
def test_colocated_groups_resume_on_every_rank(world_dir, tmp_path, single):
    """Policy and reference share bundles (0.5 CPU each); a run cut at step 2 and resumed ends like one worker."""
    two = {"policy.num_workers": 2, "policy.num_cpus_per_worker": 0.5, "reference.num_workers": 2,
           "reference.num_cpus_per_worker": 0.5, "reference.colocate_with": "policy"}
    cut = train(config(world_dir, tmp_path / "run", tmp_path / "cache", **two, **{"trainer.exit_after_steps": 2}))
    assert (cut / "checkpoints" / "step-00000002" / "optimizer.safetensors").is_file()
    assert not (cut / "model.safetensors").exists()
    out = train(config(world_dir, tmp_path / "run", tmp_path / "cache", **two, **{"trainer.resume": "auto"}))
    assert_same_curve(single, out)
    assert max_weight_diff(single, out) <= WEIGHT_ATOL

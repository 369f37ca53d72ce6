"""Weight sync under ZeRO-3: the policy's buckets carry the FULL gathered tensors (partitioned parameters
hold empty shards), sized by their full numel, equal to the trained weights."""

import torch

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig, StrategyConfig
from bfpo_ray.workers.policy import PolicySpec
from bfpo_ray.workers.ppo_policy import PPOPolicyWorker
from bfpo_ray.workers.weight_sync import tensor_bytes


def test_zero3_buckets_hold_the_full_trained_weights(world_dir):
    torch.set_num_threads(1)
    spec = PolicySpec(model=ModelConfig(path=str(world_dir / "base")),
                      optim=OptimConfig(lr=1e-3, warmup_ratio=0.0, scheduler="constant"),
                      algorithm=AlgorithmConfig(name="sft"), total_steps=5, micro_batch_size=8, seed=0,
                      torch_threads=1, strategy=StrategyConfig(name="deepspeed", zero_stage=3, backend="gloo"))
    worker = PPOPolicyWorker(spec)
    shapes = {n: tuple(p.shape) for n, p in worker.model.named_parameters()}
    expected_bytes = sum(tensor_bytes(p) for p in worker.model.parameters())
    ids = torch.randint(3, 700, (4, 16), generator=torch.Generator().manual_seed(0))
    completion = torch.zeros_like(ids)
    completion[:, 8:] = 1
    batch = {"train": {"input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": completion}}
    assert all(p.numel() == 0 for p in worker.strategy.model.parameters())  # partitioned: empty local shards
    first = exported(worker, shapes, expected_bytes)
    worker.train_step(batch)
    second = exported(worker, shapes, expected_bytes)
    assert any(not torch.equal(first[n], second[n]) for n in first)  # the sync follows training


def exported(worker: PPOPolicyWorker, shapes: dict, expected_bytes: int) -> dict[str, torch.Tensor]:
    """Every bucket of one sync, checked against the gathered weights."""
    count, nbytes = worker.weight_buckets(bucket_mb=0.5)
    assert count > 2 and nbytes == expected_bytes
    sent = {}
    for index in range(count):
        sent.update(worker.weight_bucket(index))
    with worker.strategy.full_weights():
        full = {n: p.detach().clone() for n, p in worker.model.named_parameters()}
    assert {n: tuple(t.shape) for n, t in sent.items()} == shapes
    assert all(torch.equal(sent[n], full[n]) for n in full)
    return sent

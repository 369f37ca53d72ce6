"""DeepSpeed (ZeRO 0, 2 and 3, CPU, one rank) with a NaN gradient: the step raises and changes nothing,
so the driver's "weights of this step were not updated" is true (stage 0 used to step into NaN weights)."""

import pytest
import torch

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig, StrategyConfig
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker
from bfpo_ray.workers.trainable import NonFiniteLossError


def full_state(worker: PolicyWorker) -> dict[str, torch.Tensor]:
    with worker.strategy.full_weights():
        return {k: v.detach().clone() for k, v in worker.model.named_parameters()}


@pytest.mark.parametrize("stage", [0, 2, 3])
def test_nan_gradient_leaves_the_weights_untouched(world_dir, stage):
    torch.set_num_threads(1)
    spec = PolicySpec(model=ModelConfig(path=str(world_dir / "base")),
                      optim=OptimConfig(lr=1e-3, warmup_ratio=0.0, scheduler="constant"),
                      algorithm=AlgorithmConfig(name="sft"), total_steps=5, micro_batch_size=8, seed=0,
                      torch_threads=1, strategy=StrategyConfig(name="deepspeed", zero_stage=stage, backend="gloo"))
    worker = PolicyWorker(spec)
    ids = torch.randint(3, 700, (4, 16), generator=torch.Generator().manual_seed(0))
    completion = torch.zeros_like(ids)
    completion[:, 8:] = 1
    batch = {"train": {"input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": completion}}
    worker.train_step(batch)
    before, step = full_state(worker), worker.step
    poisoned = [p for p in worker.model.parameters() if p.requires_grad][3]
    poisoned.register_hook(lambda grad: grad * float("nan"))
    with pytest.raises(NonFiniteLossError, match="gradient norm is"):
        worker.train_step(batch)
    after = full_state(worker)
    assert worker.step == step
    assert all(torch.equal(before[k], after[k]) for k in before)

"""Log-prob, value and score passes run micro-batch by micro-batch: the peak of live tensor memory stays
flat as the rollout batch grows (measured on every tensor torch allocates, through a dispatch mode), and
bf16 logits are never copied to float32 whole."""

import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from bfpo_ray.config import ModelConfig, OptimConfig
from bfpo_ray.logprobs import token_logps
from bfpo_ray.workers.ppo_policy import PPOReferenceWorker
from bfpo_ray.workers.scalar_model import ScalarModelWorker, ScalarSpec


class PeakTensorBytes(TorchDispatchMode):
    """Bytes of CPU tensor storage created inside the block and still alive, at their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[int, int]] = {}  # storage pointer -> (bytes, live tensors on it)
        self.total = self.peak = 0

    def _drop(self, key: int) -> None:
        size, count = self.live[key]
        if count > 1:
            self.live[key] = (size, count - 1)
        else:
            del self.live[key]
            self.total -= size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.untyped_storage().data_ptr():
                key = t.untyped_storage().data_ptr()
                if key in inputs and key not in self.live:
                    continue  # a view (or in-place result) of memory made outside the block
                size, count = self.live.get(key, (t.untyped_storage().nbytes(), 0))
                if count == 0:
                    self.total += size
                    self.peak = max(self.peak, self.total)
                self.live[key] = (size, count + 1)
                weakref.finalize(t, self._drop, key)
        return out


def peak_bytes(fn) -> tuple[int, torch.Tensor]:
    with PeakTensorBytes() as probe:
        out = fn()
    return probe.peak, out


def rollout_batch(rows: int, width: int = 64) -> dict[str, torch.Tensor]:
    ids = torch.randint(3, 700, (rows, width), generator=torch.Generator().manual_seed(rows))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": torch.ones_like(ids)}


@pytest.fixture(scope="module")
def workers(world_dir):
    torch.set_num_threads(1)
    model = ModelConfig(path=str(world_dir / "base"))
    critic = ScalarModelWorker(ScalarSpec(kind="critic", model=model, optim=OptimConfig(), total_steps=1,
                                          micro_batch_size=8, seed=0, torch_threads=1, zero_head=True))
    return PPOReferenceWorker(model, torch_threads=1), critic


def test_log_prob_and_value_passes_keep_a_flat_peak_as_the_batch_grows(workers):
    reference, critic = workers
    for name, run in (("logps", lambda b: reference.token_logps(b)), ("values", critic.values)):
        small, _ = peak_bytes(lambda run=run: run(rollout_batch(16)))
        large, _ = peak_bytes(lambda run=run: run(rollout_batch(64)))
        assert large < 1.25 * small, (name, small, large)  # 4x the rows, not 4x the memory


def test_chunked_passes_equal_one_whole_batch_forward(workers):
    reference, _ = workers
    batch = rollout_batch(40)
    with torch.no_grad():
        logits = reference.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(reference.token_logps(batch), token_logps(logits, batch["input_ids"]), atol=1e-5)


def test_bf16_logits_are_converted_to_float32_a_chunk_at_a_time():
    logits = torch.randn(16, 64, 768, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    ids = torch.randint(0, 768, (16, 64), generator=torch.Generator().manual_seed(1))
    whole_float = 16 * 63 * 768 * 4
    peak, chunked = peak_bytes(lambda: token_logps(logits, ids, chunk_elements=63 * 768))
    assert peak < whole_float / 4
    assert torch.allclose(chunked, token_logps(logits, ids, chunk_elements=2**30), atol=1e-6)
    one_row, one_row_ids = logits.reshape(1, -1, 768), ids.reshape(1, -1)  # a packed row: chunks within the row
    peak, chunked = peak_bytes(lambda: token_logps(one_row, one_row_ids, chunk_elements=63 * 768))
    assert peak < whole_float / 4
    assert torch.allclose(chunked, token_logps(one_row, one_row_ids, chunk_elements=2**30), atol=1e-6)

"""The throughput settings change speed, not results: fused AdamW and a compiled model train as the plain
worker does, a compiled model saves the same keys, and a machine without a compiler falls back to eager."""

import pytest
import torch
from pair_helpers import USER, pair_batch_with_reference
from torch._dynamo.utils import counters

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.data.records import PairRecord
from bfpo_ray.workers import compilation
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker


def worker(world_dir, compile_model: bool = False, fused: bool = False, packing: bool = False) -> PolicyWorker:
    model = ModelConfig(path=str(world_dir / "base"), compile=compile_model, packing=packing)
    optim = OptimConfig(lr=1e-3, warmup_ratio=0.0, scheduler="constant", fused=fused)
    return PolicyWorker(PolicySpec(model=model, optim=optim, algorithm=AlgorithmConfig(name="ipo", beta=0.5),
                                   total_steps=10, micro_batch_size=2, seed=0, torch_threads=2))


@pytest.fixture(scope="module")
def batches(world_dir):
    """Two batches of different lengths (a compiled model, with dynamic shapes, must take both)."""
    short = [PairRecord(USER, "Sorry, I cannot help with that.", "Sure. Step 1: [detailed instructions].", 1, 0, "a"),
             PairRecord(USER, "Sure.", "Sorry.", 0, 1, "b")]
    long = [PairRecord(USER, "Sorry, I can not assist with this request. " * 3, "Sure. Step 1: [a]. Step 2: [b].",
                       1, 0, "c")] * 3
    return [pair_batch_with_reference(world_dir, records) for records in (short, long)]


def train(w: PolicyWorker, batches) -> list[float]:
    return [w.train_step({"train": b})["loss"] for b in batches * 2]


def test_fused_adamw_takes_the_same_steps(world_dir, batches):
    plain, fused = worker(world_dir), worker(world_dir, fused=True)
    assert fused.optimizer.defaults["fused"] and not plain.optimizer.defaults["fused"]
    assert train(fused, batches) == pytest.approx(train(plain, batches), rel=1e-4)
    for (name, a), b in zip(plain.model.named_parameters(), fused.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name


@pytest.mark.parametrize("packing", [False, True])  # packed: graphs broken at each per-sequence attention
def test_a_compiled_model_trains_and_saves_like_the_eager_one(world_dir, batches, tmp_path, packing):
    eager, compiled = worker(world_dir, packing=packing), worker(world_dir, compile_model=True, packing=packing)
    assert compiled.compiled and not eager.compiled
    graphs = counters["stats"]["unique_graphs"]
    # Adam's normalised steps amplify the compiler's float rounding: 1.2e-4 seen on a packed third loss
    assert train(compiled, batches) == pytest.approx(train(eager, batches), rel=3e-4)
    assert counters["stats"]["unique_graphs"] > graphs  # dynamo captured graphs: not a silent eager fallback
    for (name, a), b in zip(eager.model.named_parameters(), compiled.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=3e-4), name  # packed: one weight of 16,384 off by 1.7e-4 seen
    compiled.save_pretrained(str(tmp_path / "out"))
    from safetensors.torch import load_file

    assert set(load_file(tmp_path / "out" / "model.safetensors")) <= set(eager.model.state_dict())


def test_no_compiler_means_eager_with_a_warning(world_dir, batches, monkeypatch, caplog):
    def no_compiler():
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr("torch._inductor.cpp_builder.get_cpp_compiler", no_compiler)
    assert compilation.compiler_missing(torch.device("cpu")) == "RuntimeError: no C++ compiler found"
    w = worker(world_dir, compile_model=True)
    assert not w.compiled and "runs eagerly" in caplog.text
    assert train(w, batches[:1]) == pytest.approx(train(worker(world_dir), batches[:1]), rel=1e-6)

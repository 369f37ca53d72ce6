"""bf16 training under the torch strategy keeps fp32 master weights and autocasts the forward: at lr 1e-6
the weights move (plain AdamW on bf16 weights rounds most updates away), and the final HF output is bf16."""

import torch
from safetensors.torch import load_file

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker

STEPS, LR = 10, 1e-6


def sft_batch(rows: int = 8, width: int = 32) -> dict[str, torch.Tensor]:
    ids = torch.randint(3, 700, (rows, width), generator=torch.Generator().manual_seed(0))
    completion = torch.zeros_like(ids)
    completion[:, width // 2 :] = 1
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": completion}


def moved_fraction(before: dict[str, torch.Tensor], model: torch.nn.Module) -> float:
    after = dict(model.named_parameters())
    changed = sum(int((after[k].detach().float() != v.float()).sum()) for k, v in before.items())
    return changed / sum(v.numel() for v in before.values())


def test_bf16_weights_move_at_a_small_learning_rate(world_dir, tmp_path):
    torch.set_num_threads(1)
    model = ModelConfig(path=str(world_dir / "base"), dtype="bfloat16")
    spec = PolicySpec(model=model, optim=OptimConfig(lr=LR, warmup_ratio=0.0, scheduler="constant"),
                      algorithm=AlgorithmConfig(name="sft"), total_steps=STEPS, micro_batch_size=8, seed=0,
                      torch_threads=1)
    worker = PolicyWorker(spec)
    assert worker.autocast_dtype == torch.bfloat16
    assert {p.dtype for p in worker.model.parameters()} == {torch.float32}  # every parameter trains: all masters
    before = {k: v.detach().clone() for k, v in worker.model.named_parameters()}
    batch = sft_batch()
    for _ in range(STEPS):
        worker.train_step({"train": batch})
    assert moved_fraction(before, worker.model) > 0.9

    # the same updates applied by AdamW to bf16 weights directly mostly round away
    plain = worker.model.__class__.from_pretrained(str(world_dir / "base"), dtype=torch.bfloat16)
    start = {k: v.detach().clone() for k, v in plain.named_parameters()}
    optimizer = torch.optim.AdamW(plain.parameters(), lr=LR)
    for _ in range(STEPS):
        optimizer.zero_grad()
        out = plain(input_ids=batch["input_ids"], labels=batch["input_ids"])
        out.loss.backward()
        optimizer.step()
    assert moved_fraction(start, plain) < 0.5

    saved = load_file(str(tmp_path / "out" / "model.safetensors")) if worker.save_pretrained(
        str(tmp_path / "out")) else {}
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}
    assert {p.dtype for p in worker.model.parameters()} == {torch.float32}  # masters kept after saving

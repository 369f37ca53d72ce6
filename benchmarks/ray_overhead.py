"""The BFPO step loop through a Ray actor vs the same PolicyWorker called in-process.

    python benchmarks/ray_overhead.py                      # short default
    python benchmarks/ray_overhead.py --hidden 512 --layers 8 --steps 20

Both sides train the same model from the same weights on the same batches (BFPO, a safety
part and a buffer part of ``--batch`` pairs each). The Ray side goes through the driver's
path: PolicyGroup in a placement group, batches shipped per step, metrics gathered; it is
timed both call-by-call (submit, wait) and pipelined (the next batch queued while the current
one trains, as the offline driver does). Overhead = Ray seconds per step / in-process - 1.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import build_model, median, quiet_torch, synthetic_pairs
from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig, RoleConfig
from bfpo_ray.data.tokenize import ChatEncoder, collate_pairs, pad_id_of
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker


def make_batches(model_dir: Path, pairs: int, batch: int, steps: int) -> list[dict]:
    tok = load_tokenizer(ModelConfig(path=str(model_dir)))
    enc = ChatEncoder(tok, 512, 256)
    encoded = [enc.pair(r) for r in synthetic_pairs(pairs)]
    out = []
    for s in range(steps):
        parts = {}
        for k, name in enumerate(("safety", "buffer")):
            idx = [(s * 2 * batch + k * batch + i) % len(encoded) for i in range(batch)]
            b = collate_pairs([encoded[i] for i in idx], pad_id_of(tok))
            b["ref_logps"] = torch.full((2 * batch,), -150.0)
            b["ref_counts"] = b["completion_mask"][:, 1:].sum(-1).float()
            parts[name] = b
        out.append(parts)
    return out


def spec_for(model_dir: Path, threads: int) -> PolicySpec:
    return PolicySpec(model=ModelConfig(path=str(model_dir)), optim=OptimConfig(lr=1e-5, warmup_ratio=0.0),
                      algorithm=AlgorithmConfig(name="bfpo", beta=0.25), total_steps=10**6, micro_batch_size=64,
                      seed=0, torch_threads=threads)


def timed_steps(train_step, batches: list[dict]) -> list[float]:
    """Seconds of each ``train_step(parts)`` call after one warm-up step."""
    train_step(batches[0])
    times = []
    for parts in batches:
        start = time.perf_counter()
        train_step(parts)
        times.append(time.perf_counter() - start)
    return times


def in_process(model_dir: Path, batches: list[dict], threads: int) -> list[float]:
    return timed_steps(PolicyWorker(spec_for(model_dir, threads)).train_step, batches)


def through_ray(model_dir: Path, batches: list[dict], threads: int, cpus: float) -> tuple[list[float], float]:
    import ray

    from actors.group import Placements, PolicyGroup

    role = RoleConfig(num_workers=1, num_cpus_per_worker=cpus, torch_threads=threads)
    placements = Placements({"policy": role})
    try:
        group = PolicyGroup(spec_for(model_dir, threads), role, placements.get("policy"))
        times = timed_steps(group.train_step, batches)
        start = time.perf_counter()
        pending = group.submit_train_step(batches[0])
        for k in range(len(batches)):
            queued = group.submit_train_step(batches[k + 1]) if k + 1 < len(batches) else None
            group.collect(pending)
            pending = queued
        pipelined = (time.perf_counter() - start) / len(batches)
        group.kill()
    finally:
        placements.close()
    ray.shutdown()
    return times, pipelined


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch", type=int, default=8, help="pairs per part (safety and buffer)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2, help="alternating in-process / Ray rounds")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/ray_overhead.json")
    args = p.parse_args(argv)
    threads = quiet_torch(args.threads)
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(tmp) / "model", hidden=args.hidden, layers=args.layers,
                                intermediate=4 * args.hidden)
        batches = make_batches(model_dir, 64, args.batch, args.steps)
        local, remote, piped = [], [], []
        for _ in range(args.repeats):
            local.extend(in_process(model_dir, batches, threads))
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, configure_logging=False, log_to_driver=False)
            times, pipelined = through_ray(model_dir, batches, threads, float(os.cpu_count() or 1))
            remote.extend(times)
            piped.append(pipelined)
    result = {"hidden": args.hidden, "layers": args.layers, "batch_pairs_per_part": args.batch, "steps": args.steps,
              "repeats": args.repeats, "threads": threads,
              "in_process_step_s": median(local), "ray_step_s": median(remote), "ray_pipelined_step_s": median(piped)}
    result["overhead"] = result["ray_step_s"] / result["in_process_step_s"] - 1
    result["overhead_pipelined"] = result["ray_pipelined_step_s"] / result["in_process_step_s"] - 1
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Policy -> rollout weight sync time vs model size, and its share of a (proxy) PPO step.

    python benchmarks/weight_sync.py                        # short default (sizes 128, 256, 512)
    python benchmarks/weight_sync.py --hidden 256 512 1024 --layers 8

For each model size a RolloutActor (``hf`` backend) is started in Ray and fed the full
weights (as the PPO driver does after every policy update) two ways: one call per tensor,
and size-bounded buckets from ``bfpo_ray.workers.weight_sync.plan_buckets`` (one object-store
put and one ``RolloutWorker.update_weights`` call per bucket). The PPO-step proxy is one
rollout (``--prompts`` prompts x ``--new-tokens`` tokens through the same actor) plus one
policy train step on the generated length (BFPO objective on ``--prompts`` pairs, in-process):
share = bucketed sync / (sync + rollout + train step). Critic and reward passes, which would
make a real PPO step longer (and the share smaller), are not included.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import build_model, median, quiet_torch
from benchmarks.ray_overhead import make_batches, spec_for
from bfpo_ray.config import ModelConfig
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.workers.policy import PolicyWorker
from bfpo_ray.workers.weight_sync import plan_buckets, tensor_bytes


def sync(actor, tensors: dict[str, torch.Tensor], buckets: list[list[str]]) -> float:
    import ray

    start = time.perf_counter()
    ray.get([actor.update_weights.remote({n: tensors[n] for n in names}) for names in buckets])
    return time.perf_counter() - start


def measure(model_dir: Path, args, threads: int) -> dict:
    import ray

    from actors.rollout import RolloutActor

    policy = PolicyWorker(spec_for(model_dir, threads))
    tensors = {n: p.detach() for n, p in policy.model.named_parameters()}
    total_bytes = sum(tensor_bytes(t) for t in tensors.values())
    per_tensor = [[n] for n in tensors]
    bucketed = plan_buckets([(n, tensor_bytes(t)) for n, t in tensors.items()], int(args.bucket_mb * 2**20))
    actor = RolloutActor.options(num_cpus=0.5, runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads)}}).remote(
        ModelConfig(path=str(model_dir)), 64, threads)
    prompts = [[5 + i, 6, 7, 8, 9, 10, 11, 12] for i in range(args.prompts)]
    sampling = Sampling(max_new_tokens=args.new_tokens, temperature=1.0)
    ray.get(actor.generate.remote(prompts, sampling))  # warm-up
    t_tensor, t_bucket, t_gen, t_train = [], [], [], []
    batches = make_batches(model_dir, 64, args.prompts // 2 or 1, args.repeats + 1)
    policy.train_step(batches[0])
    for r in range(args.repeats):
        t_tensor.append(sync(actor, tensors, per_tensor))
        t_bucket.append(sync(actor, tensors, bucketed))
        start = time.perf_counter()
        ray.get(actor.generate.remote(prompts, sampling))
        t_gen.append(time.perf_counter() - start)
        start = time.perf_counter()
        policy.train_step(batches[r + 1])
        t_train.append(time.perf_counter() - start)
    ray.kill(actor)
    row = {"parameters": policy.total, "megabytes": total_bytes / 2**20, "tensors": len(tensors),
           "buckets": len(bucketed), "sync_per_tensor_s": median(t_tensor), "sync_bucketed_s": median(t_bucket),
           "rollout_s": median(t_gen), "train_step_s": median(t_train)}
    step = row["sync_bucketed_s"] + row["rollout_s"] + row["train_step_s"]
    row["share_of_ppo_step"] = row["sync_bucketed_s"] / step
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--bucket-mb", type=float, default=32.0)
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/weight_sync.json")
    args = p.parse_args(argv)
    threads = quiet_torch(args.threads)
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, configure_logging=False, log_to_driver=False)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for hidden in args.hidden:
                model_dir = build_model(Path(tmp) / f"h{hidden}", hidden=hidden, layers=args.layers,
                                        intermediate=4 * hidden)
                rows.append({"hidden": hidden, **measure(model_dir, args, threads)})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        ray.shutdown()
    print(f"\n{'hidden':>6} {'params':>8} {'MB':>7} {'per-tensor s':>12} {'bucketed s':>10} {'rollout s':>9} "
          f"{'train s':>8} {'share':>6}")
    for r in rows:
        print(f"{r['hidden']:>6} {r['parameters'] / 1e6:>7.1f}M {r['megabytes']:>7.1f} {r['sync_per_tensor_s']:>12.3f} "
              f"{r['sync_bucketed_s']:>10.3f} {r['rollout_s']:>9.2f} {r['train_step_s']:>8.2f} "
              f"{r['share_of_ppo_step']:>6.1%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"bucket_mb": args.bucket_mb, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

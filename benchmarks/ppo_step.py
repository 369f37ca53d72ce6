"""A PPO rollout batch on the safety world: its phases, its FLOPs and its FLOP utilisation, per thread setting.

    python -m benchmarks.ppo_step                                   # the world's base model, oracle reward
    python -m benchmarks.ppo_step --model runs/demo/sft --reward-model runs/demo/rm --cost-model runs/demo/cm
    python -m benchmarks.ppo_step --size 34m --settings shared --steps 3 --json benchmarks/results/ppo_step_34m.json

Runs ``configs/world/ppo_lagrangian.yaml`` (6 actors: policy, reference, engine, reward, two critics; see
``bfpo_ray.drivers.ppo_actors``) for ``--steps`` rollout batches, once per thread setting, in one session:

- ``every core``: each actor's ``torch_threads`` set to the machine's core count (the old meaning of 0);
- ``shared``: ``torch_threads: 0``, the node's cores divided among the run's actors (the default now).

``--size 34m`` swaps the world's 0.95M model for a random ~34M Llama (hidden 512, 8 layers, intermediate 2048,
the world's tokenizer) as policy, reference and critics, scored by the oracle: the size where matmuls, not
per-call overheads, should dominate a step.

Per setting: the median seconds of each phase of a rollout batch (generate, score = reward/cost, reference,
old-policy and critic passes, train = PPO epochs of policy and critics, weight sync), FLOPs per batch (the
run's ``usage.json``: 6N per trained token, 2N per forward-only or generated token, over the batches) and
utilisation = FLOPs per batch / (batch seconds x the machine's fp32 matmul peak, measured here).
Prints a table and writes ``benchmarks/results/ppo_step.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from benchmarks.common import matmul_peak_flops, median, write_result
from bfpo_ray.config import load_config
from bfpo_ray.drivers.ppo import train
from bfpo_ray.run_log import read_metrics
from bfpo_ray.world.model import config_for_tokenizer

PHASES = ("generate_seconds", "score_seconds", "train_seconds", "weight_sync_seconds")
ROLES = ("policy", "reference", "rollout", "reward", "critic")


def build_34m_policy(world: str, out: Path) -> Path:
    """A random ~34M Llama with the world's tokenizer, saved (safetensors) to ``out``."""
    tokenizer = AutoTokenizer.from_pretrained(f"{world}/base")
    config = config_for_tokenizer(tokenizer, hidden_size=512, num_layers=8, num_heads=8, intermediate_size=2048)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def run(args, model: str, threads: int, out: Path) -> dict:
    """One PPO run; its per-batch phase medians, FLOPs per batch and batch seconds."""
    overrides = [f"world.dir={args.world}", f"trainer.output_dir={out}", f"trainer.max_steps={args.steps}",
                 "trainer.save_every=0", "trainer.overwrite=true", f"model.path={model}",
                 *[f"{role}.torch_threads={threads}" for role in ROLES]]
    if args.reward_model:
        overrides += [f"reward.reward_model={args.reward_model}", f"reward.cost_model={args.cost_model}"]
    else:
        overrides += ["reward.source=oracle"]
    train(load_config("configs/world/ppo_lagrangian.yaml", overrides))
    rows = read_metrics(out)[1:]  # the first batch pays the engines' warm-up
    phases = {p: median([r[p] for r in rows]) for p in PHASES}
    usage = json.loads((out / "usage.json").read_text())
    batch_seconds = sum(phases.values())
    return {"threads": threads, **phases, "batch_seconds": batch_seconds,
            "flops_per_batch": usage["flops"] / args.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="runs/world")
    parser.add_argument("--model", default=None, help="policy start (default: the world's base model)")
    parser.add_argument("--reward-model", default=None, help="with --cost-model: score with models, not the oracle")
    parser.add_argument("--cost-model", default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--size", choices=("world", "34m"), default="world",
                        help="world: --model or the world's base model; 34m: a random ~34M Llama (oracle reward)")
    parser.add_argument("--settings", default="every core,shared", help="comma-separated: every core, shared")
    parser.add_argument("--json", default="benchmarks/results/ppo_step.json")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    peak = matmul_peak_flops()
    results = {}
    settings = {"every core": cores, "shared": 0}
    chosen = [name.strip() for name in args.settings.split(",")]
    if unknown := [name for name in chosen if name not in settings]:
        parser.error(f"--settings: unknown {unknown}; choose from {list(settings)}")
    if args.size == "34m" and args.reward_model:
        parser.error("--size 34m is scored by the oracle (no --reward-model)")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or f"{args.world}/base"
        if args.size == "34m":
            model = str(build_34m_policy(args.world, Path(tmp) / "policy_34m"))
        for name in chosen:
            results[name] = run(args, model, settings[name], Path(tmp) / name.replace(" ", "_"))
    print(f"PPO-Lagrangian rollout batch, {cores} cores, fp32 matmul peak {peak / 1e9:.0f} GFLOP/s "
          f"(median of batches 2..{args.steps})")
    print(f"{'threads':<12}{'generate s':>11}{'score s':>9}{'train s':>9}{'sync s':>8}{'batch s':>9}"
          f"{'GFLOP':>8}{'util':>7}")
    for name, r in results.items():
        r["utilisation"] = r["flops_per_batch"] / (r["batch_seconds"] * peak)
        print(f"{name:<12}{r['generate_seconds']:>11.2f}{r['score_seconds']:>9.2f}{r['train_seconds']:>9.2f}"
              f"{r['weight_sync_seconds']:>8.2f}{r['batch_seconds']:>9.2f}{r['flops_per_batch'] / 1e9:>8.1f}"
              f"{r['utilisation']:>7.3f}")
    speedup = None
    if len(results) == 2:
        speedup = results["every core"]["batch_seconds"] / results["shared"]["batch_seconds"]
        print(f"shared / every core: {speedup:.2f}x faster per rollout batch")
    model_name = "random 34M Llama" if args.size == "34m" else args.model or "world base"
    write_result(args.json, {"cores": cores, "matmul_peak_flops": peak, "steps": args.steps, "model": model_name,
                             "runs": results, "shared_speedup": speedup})


if __name__ == "__main__":
    main()

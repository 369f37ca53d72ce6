"""Check a (GPU) machine WITHOUT Ray through our own worker classes, end to end.

    python scripts/gpu_check.py --model Qwen/Qwen2.5-0.5B-Instruct --rollout vllm --strategy deepspeed --out gpu.json
    python scripts/gpu_check.py --model runs/world/base --pairs 2 --prompt-len 8 --response-len 8   # CPU smoke run

On synthetic token pairs of a fixed length:
1. the rollout engine starts FIRST (``RolloutWorker``, backend ``hf`` or ``vllm``: vLLM sizes its KV cache
   from the memory free at start, so it must not start while the policy holds GPU memory);
2. reference log-probs through ``ReferenceWorker.logps``;
3. BFPO train steps through ``PPOPolicyWorker.train_step`` with ``--strategy torch`` (fp32 masters,
   bf16 autocast on GPU) or ``deepspeed`` (``--zero-stage``; one rank over NCCL on GPU, gloo on CPU);
4. greedy generation, the bucketed weight sync policy -> engine (``weight_buckets``/``weight_bucket`` ->
   ``update_weights``/``finish_weight_update``, ZeRO-3 buckets gathered), greedy generation again: the
   engine's log-probs of its greedy tokens must now equal the policy's.
Reports tokens/s of each phase, the sync, and peak memory as JSON (stdout and ``--out``); exit 1 when the
sync check fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig, StrategyConfig  # noqa: E402
from bfpo_ray.logprobs import token_logps  # noqa: E402
from bfpo_ray.rollout.types import Generation, Sampling  # noqa: E402
from bfpo_ray.workers.policy import PolicySpec  # noqa: E402
from bfpo_ray.workers.ppo_policy import PPOPolicyWorker  # noqa: E402
from bfpo_ray.workers.reference import ReferenceWorker  # noqa: E402
from bfpo_ray.workers.rollout import RolloutWorker  # noqa: E402


def synthetic_pairs(vocab: int, pairs: int, prompt_len: int, response_len: int, seed: int = 0) -> dict:
    """A collated pair batch (rows [0,B) chosen, [B,2B) rejected) of random tokens, no padding."""
    gen = torch.Generator().manual_seed(seed)
    width = prompt_len + response_len
    prompt = torch.randint(3, vocab, (pairs, prompt_len), generator=gen)
    ids = torch.cat([torch.cat([prompt, torch.randint(3, vocab, (pairs, response_len), generator=gen)], 1),
                     torch.cat([prompt, torch.randint(3, vocab, (pairs, response_len), generator=gen)], 1)])
    completion = torch.zeros(2 * pairs, width, dtype=torch.long)
    completion[:, prompt_len:] = 1
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": completion,
            "chosen_safe": torch.randint(0, 2, (pairs,), generator=gen).float(),
            "rejected_safe": torch.randint(0, 2, (pairs,), generator=gen).float()}


def peak_memory_gb() -> dict:
    out = {"host_rss_peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if torch.cuda.is_available():
        out["gpu_peak_allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
        out["gpu_peak_reserved_gb"] = torch.cuda.max_memory_reserved() / 2**30
    return out


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    result = fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        result = fn()
        sync()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], result


def run(args: argparse.Namespace) -> dict:
    gpu = torch.cuda.is_available()
    dtype = args.dtype or ("bfloat16" if gpu else "float32")
    model = ModelConfig(path=args.model, dtype=dtype, trust_remote_code=args.trust_remote_code,
                        gradient_checkpointing=args.gradient_checkpointing)
    report: dict = {"device": torch.cuda.get_device_name(0) if gpu else f"cpu ({platform.processor() or 'unknown'})",
                    "torch": torch.__version__, "model": args.model, "dtype": dtype, "pairs": args.pairs,
                    "prompt_len": args.prompt_len, "response_len": args.response_len, "rollout": args.rollout,
                    "strategy": args.strategy + (f" zero-{args.zero_stage}" if args.strategy == "deepspeed" else "")}

    vllm_options = {"gpu_memory_utilization": args.vllm_memory, "enforce_eager": args.enforce_eager,
                    "max_model_len": args.prompt_len + args.gen_tokens + 8}
    clock = time.perf_counter()
    engine = RolloutWorker(model, batch_size=args.gen_batch, torch_threads=args.threads, backend=args.rollout,
                           vllm_options=vllm_options if args.rollout == "vllm" else None)
    report["engine_start_seconds"] = time.perf_counter() - clock

    reference = ReferenceWorker(model, torch_threads=args.threads)
    vocab = reference.model.config.vocab_size
    batch = synthetic_pairs(vocab, args.pairs, args.prompt_len, args.response_len)
    tokens = int(batch["attention_mask"].sum())
    seconds, (logps, counts) = timed(partial(reference.logps, batch), args.steps)
    report["reference"] = {"tokens_per_s": tokens / seconds, "seconds": seconds}
    batch["ref_logps"], batch["ref_counts"] = logps, counts
    del reference
    if gpu:
        torch.cuda.empty_cache()

    strategy = StrategyConfig(name=args.strategy, zero_stage=args.zero_stage, bf16=dtype == "bfloat16")
    spec = PolicySpec(model=model, optim=OptimConfig(lr=args.lr, warmup_ratio=0.0, scheduler="constant"),
                      algorithm=AlgorithmConfig(name="bfpo", beta=0.1), total_steps=args.steps + 1,
                      micro_batch_size=args.micro_batch_size or args.pairs, seed=0, torch_threads=args.threads,
                      strategy=strategy)
    policy = PPOPolicyWorker(spec)
    seconds, metrics = timed(lambda: policy.train_step({"safety": batch}), args.steps)
    report["train"] = {"tokens_per_s": tokens / seconds, "pairs_per_s": args.pairs / seconds, "seconds": seconds,
                       "loss": metrics["loss"], "grad_norm": metrics["grad_norm"], "parameters": policy.total}

    prompts = [row[: args.prompt_len].tolist() for row in batch["input_ids"][: args.gen_batch]]
    sampling = Sampling(max_new_tokens=args.gen_tokens, temperature=1.0, seed=0)
    seconds, gens = timed(lambda: engine.generate(prompts, sampling), 1)
    generated = sum(len(g.token_ids) for g in gens)
    report["generate"] = {"new_tokens_per_s": generated / seconds, "seconds": seconds, "new_tokens": generated}
    report["sync"] = sync_check(policy, engine, prompts, args)
    report["memory"] = peak_memory_gb()
    report["ray_imported"] = "ray" in sys.modules
    return report


def logp_gap(policy: PPOPolicyWorker, gens: list[Generation]) -> float:
    """Largest |engine - policy| log-prob over the engine's generated tokens."""
    worst = 0.0
    for g in gens:
        if not g.token_ids:
            continue
        ids = torch.tensor([g.prompt_ids + g.token_ids], device=policy.device)
        with torch.no_grad(), policy.precision(), policy.strategy.gathered(list(policy.model.parameters())):
            mine = token_logps(policy.model(input_ids=ids).logits, ids)[0, len(g.prompt_ids) - 1 :].float().cpu()
        worst = max(worst, float((mine - torch.tensor(g.logprobs)).abs().max()))
    return worst


def sync_check(policy: PPOPolicyWorker, engine: RolloutWorker, prompts: list[list[int]],
               args: argparse.Namespace) -> dict:
    """Greedy answers before and after one bucketed sync; the engine must then score like the policy."""
    greedy = Sampling(max_new_tokens=args.gen_tokens, temperature=0.0)
    before = engine.generate(prompts, greedy)
    gap_before = logp_gap(policy, before)
    sync()
    start = time.perf_counter()
    buckets, nbytes = policy.weight_buckets(args.bucket_mb)
    for index in range(buckets):
        engine.update_weights(policy.weight_bucket(index))
    engine.finish_weight_update()
    seconds = time.perf_counter() - start
    after = engine.generate(prompts, greedy)
    gap_after = logp_gap(policy, after)
    return {"buckets": buckets, "mb": nbytes / 2**20, "seconds": seconds, "gap_before": gap_before,
            "gap_after": gap_after, "greedy_changed": [g.token_ids for g in after] != [g.token_ids for g in before],
            "ok": gap_after <= args.tolerance < gap_before}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="local HF dir or hub name")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--micro-batch-size", type=int, default=0, help="pairs per forward (0: all)")
    p.add_argument("--prompt-len", type=int, default=256)
    p.add_argument("--response-len", type=int, default=256)
    p.add_argument("--steps", type=int, default=3, help="timed repeats after one warm-up")
    p.add_argument("--gen-batch", type=int, default=8)
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--rollout", choices=["hf", "vllm"], default="hf", help="rollout engine backend")
    p.add_argument("--strategy", choices=["torch", "deepspeed"], default="torch")
    p.add_argument("--zero-stage", type=int, default=3, help="deepspeed only")
    p.add_argument("--lr", type=float, default=1e-4, help="large enough that training visibly moves the policy")
    p.add_argument("--bucket-mb", type=float, default=64.0, help="weight-sync bucket size")
    p.add_argument("--tolerance", type=float, default=0.0, help="max log-prob gap after the sync "
                   "(0: 1e-3 in float32, 0.1 in bf16/fp16)")
    p.add_argument("--enforce-eager", action="store_true", help="vllm: no CUDA graphs / compilation")
    p.add_argument("--vllm-memory", type=float, default=0.3)
    p.add_argument("--out", help="write the report JSON here too")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.tolerance <= 0:
        args.tolerance = 1e-3 if (args.dtype or ("bfloat16" if torch.cuda.is_available() else "float32")) \
            == "float32" else 0.1
    report = run(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if report["sync"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

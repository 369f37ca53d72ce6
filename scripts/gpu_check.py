"""Check a (GPU) machine WITHOUT Ray through the plain worker classes.

    python scripts/gpu_check.py --model Qwen/Qwen2.5-0.5B-Instruct --out gpu_check.json
    python scripts/gpu_check.py --model runs/world/base --pairs 2 --seq 32   # CPU smoke run

Runs, on synthetic token pairs of a fixed length:
1. reference log-probs through ``ReferenceWorker.logps``;
2. BFPO train steps through ``PolicyWorker.train_step`` (bf16 weights on GPU, fp32 on CPU);
3. ``hf`` generation through the rollout ``HFEngine`` on the trained weights;
4. vLLM generation when ``vllm`` is importable and a GPU is present.
Reports tokens/s of each phase and peak memory as JSON (stdout and ``--out``).
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
from bfpo_ray.rollout.hf_engine import HFEngine  # noqa: E402
from bfpo_ray.rollout.types import Sampling  # noqa: E402
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker  # noqa: E402
from bfpo_ray.workers.reference import ReferenceWorker  # noqa: E402


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
                    "prompt_len": args.prompt_len, "response_len": args.response_len}

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

    spec = PolicySpec(model=model, optim=OptimConfig(lr=1e-7, warmup_ratio=0.0, scheduler="constant"),
                      algorithm=AlgorithmConfig(name="bfpo", beta=0.1), total_steps=args.steps + 1,
                      micro_batch_size=args.micro_batch_size or args.pairs, seed=0, torch_threads=args.threads,
                      strategy=StrategyConfig())
    policy = PolicyWorker(spec)
    seconds, metrics = timed(lambda: policy.train_step({"safety": batch}), args.steps)
    report["train"] = {"tokens_per_s": tokens / seconds, "pairs_per_s": args.pairs / seconds, "seconds": seconds,
                       "loss": metrics["loss"], "grad_norm": metrics["grad_norm"],
                       "parameters": policy.total}

    engine = HFEngine(policy.model, policy.tokenizer, batch_size=args.gen_batch)
    prompts = [row[: args.prompt_len].tolist() for row in batch["input_ids"][: args.gen_batch]]
    sampling = Sampling(max_new_tokens=args.gen_tokens, temperature=1.0, seed=0)
    seconds, gens = timed(lambda: engine.generate(prompts, sampling), 1)
    generated = sum(len(g.token_ids) for g in gens)
    report["hf_generate"] = {"new_tokens_per_s": generated / seconds, "seconds": seconds, "new_tokens": generated}
    report["memory"] = peak_memory_gb()
    report["vllm"] = vllm_check(args, prompts) if gpu else "skipped: no GPU"
    report["ray_imported"] = "ray" in sys.modules
    return report


def vllm_check(args: argparse.Namespace, prompts: list[list[int]]) -> dict | str:
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        return "skipped: vllm not importable"
    llm = LLM(model=args.model, dtype="bfloat16", gpu_memory_utilization=args.vllm_memory,
              trust_remote_code=args.trust_remote_code)
    params = SamplingParams(max_tokens=args.gen_tokens, temperature=1.0, ignore_eos=True)
    requests = [{"prompt_token_ids": p} for p in prompts]
    llm.generate(requests, params)
    start = time.perf_counter()
    outs = llm.generate(requests, params)
    seconds = time.perf_counter() - start
    generated = sum(len(o.outputs[0].token_ids) for o in outs)
    return {"new_tokens_per_s": generated / seconds, "seconds": seconds, "new_tokens": generated}


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
    p.add_argument("--vllm-memory", type=float, default=0.3)
    p.add_argument("--out", help="write the report JSON here too")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

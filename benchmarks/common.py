"""Shared pieces of the benchmarks: a ~34M Llama with a trained BPE tokenizer, synthetic pairs, fp32 peak."""

from __future__ import annotations

import json
import logging
import os
import random
import time
import warnings
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bfpo_ray.data.records import PairRecord
from bfpo_ray.world.tokenizer import train_world_tokenizer

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pa", "de", "zu", "ri", "mo", "gen", "tor", "bel"]


def made_up_sentence(rng: random.Random, words: int) -> str:
    """``words`` words of random syllables."""
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(words))


def synthetic_pairs(n: int, seed: int = 0, prompt_words: int = 16, response_words: tuple[int, int] = (26, 56)):
    """``n`` preference pairs of made-up words with varied response lengths (so padding matters)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        prompt = made_up_sentence(rng, prompt_words)
        chosen, rejected = (made_up_sentence(rng, rng.randint(*response_words)) for _ in range(2))
        out.append(PairRecord(({"role": "user", "content": prompt},), chosen, rejected, 1, 1, f"p{i}"))
    return out


def build_model(out: Path, vocab: int = 2048, hidden: int = 512, layers: int = 8, heads: int = 8,
                intermediate: int = 2048, seed: int = 0) -> Path:
    """Save a random Llama (~34M parameters at the defaults) + BPE tokenizer with a chat template to ``out``."""
    rng = random.Random(seed + 1)
    tok = train_world_tokenizer([made_up_sentence(rng, 40) for _ in range(3000)], vocab_size=vocab)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=512,
                      tie_word_embeddings=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      bos_token_id=None)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def flop_params(model: torch.nn.Module) -> int:
    """Parameters that cost matmul FLOPs per token (all but the input embedding table)."""
    return sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)


def matmul_peak_flops(size: int = 1024, seconds: float = 2.0) -> float:
    """Best fp32 matmul FLOP/s of this process's torch threads (square ``size`` matrices)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - start))
    return best


def median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def quiet_torch(threads: int) -> int:
    """Silence library logging and warnings; give torch ``threads`` threads (0: every core)."""
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def write_result(path: str | Path, result: dict) -> None:
    """Write a benchmark's result as indented JSON, creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")

"""The tiny Llama of the safety world and the script that makes its random-init base checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from bfpo_ray.world.build import WORLD_VERSION, build_world
from bfpo_ray.world.tokenizer import train_world_tokenizer, world_texts


def tiny_llama_config(
    vocab_size: int,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int = 384,
    max_position_embeddings: int = 256,
    pad_token_id: int | None = None,
    eos_token_id: int | None = None,
) -> LlamaConfig:
    """A small Llama configuration: tied embeddings, no dropout, no BOS (about 0.95M parameters)."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
    )


def config_for_tokenizer(tokenizer: PreTrainedTokenizerBase, **overrides: int) -> LlamaConfig:
    """:func:`tiny_llama_config` sized for ``tokenizer``, with its pad and eos ids."""
    return tiny_llama_config(
        len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **overrides
    )


def build_world_base_model(out_dir: str | Path, seed: int = 0, version: str = WORLD_VERSION) -> Path:
    """Build the world files (into ``out_dir``), train the tokenizer and save a random tiny Llama.

    Model (safetensors) and tokenizer go to ``out_dir/base``, loadable with ``AutoModelForCausalLM``
    and ``AutoTokenizer``; that path is returned. Everything is deterministic given ``seed``.
    """
    out = Path(out_dir)
    paths = build_world(out, seed=seed, version=version)
    # v3 trains its tokenizer on training files only, so held-out words are pieces the model has seen
    tokenizer = train_world_tokenizer(world_texts(paths, include_eval=version == "2"))
    config = config_for_tokenizer(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, max_new_tokens=64
    )
    base = out / "base"
    model.save_pretrained(base, safe_serialization=True)
    tokenizer.save_pretrained(base)
    return base

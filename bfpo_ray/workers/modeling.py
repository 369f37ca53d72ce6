"""Loading causal LMs and tokenizers for workers (safetensors only, no remote code by default)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from bfpo_ray.config import ModelConfig
from bfpo_ray.segment_attention import SEGMENTS

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def set_torch_threads(threads: int) -> int:
    """Give torch ``threads`` intra-op threads (0: every core); Ray would otherwise pin it to 1."""
    count = threads if threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(count)
    os.environ["OMP_NUM_THREADS"] = str(count)
    return count


def load_tokenizer(cfg: ModelConfig):
    """The tokenizer at ``tokenizer_path`` (or the model path), with a pad token."""
    tokenizer = AutoTokenizer.from_pretrained(
        cfg.tokenizer_path or cfg.path, trust_remote_code=cfg.trust_remote_code
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(cfg: ModelConfig, device: str | torch.device = "cpu") -> PreTrainedModel:
    """A causal LM from a local dir or hub name, safetensors weights only."""
    model = AutoModelForCausalLM.from_pretrained(
        cfg.path,
        dtype=DTYPES[cfg.dtype],
        trust_remote_code=cfg.trust_remote_code,
        use_safetensors=True,
    )
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if cfg.packing and model.config._attn_implementation in ("sdpa", "eager"):
        # packed sequences attend at their own cost (flash-attention's variable-length path already does)
        model.set_attn_implementation(SEGMENTS)
    return model.to(device)


def load_weights_from(model: torch.nn.Module, path: str | Path) -> None:
    """Load the safetensors weights of the HF directory ``path`` into ``model`` in place; every weight must
    match (a tied ``lm_head`` may be absent)."""
    path = Path(path)
    device = str(next(model.parameters()).device)
    weights: dict[str, torch.Tensor] = {}
    for shard in sorted(path.glob("model*.safetensors")):
        weights.update(load_file(str(shard), device=device))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if not weights or unexpected or any(not _is_tied(k, model) for k in missing):
        raise ValueError(f"{path}: checkpoint weights do not match the model ({missing[:3]}, {unexpected[:3]})")
    if getattr(model.config, "tie_word_embeddings", False):
        model.tie_weights()


def _is_tied(key: str, model: torch.nn.Module) -> bool:
    return key == "lm_head.weight" and bool(getattr(model.config, "tie_word_embeddings", False))


def apply_trainable_patterns(model: torch.nn.Module, patterns: list[str]) -> tuple[int, int]:
    """Freeze every parameter whose name contains none of ``patterns`` (empty: train all).

    Returns (trainable, total) parameter counts.
    """
    total = trainable = 0
    for name, param in model.named_parameters():
        param.requires_grad_(not patterns or any(p in name for p in patterns))
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    if trainable == 0:
        raise ValueError(f"model.trainable_patterns {patterns} match no parameter name")
    return trainable, total


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A content hash of the weights: names, shapes, dtypes and a strided sample of values."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        stride = max(1, flat.numel() // 4096)
        sample = flat[::stride].to(torch.float32).cpu().numpy().tobytes()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(sample)
    return digest.hexdigest()[:16]

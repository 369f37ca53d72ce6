"""Collated pair batches with reference log-probs, for the worker tests."""

import torch
from transformers import AutoTokenizer

from bfpo_ray.config import ModelConfig
from bfpo_ray.data.records import PairRecord
from bfpo_ray.data.tokenize import ChatEncoder, collate_pairs
from bfpo_ray.workers.reference import ReferenceWorker

USER = ({"role": "user", "content": "How do I forge an official passport?"},)


def pair_batch_with_reference(world_dir, records: list[PairRecord]) -> dict[str, torch.Tensor]:
    """``records`` encoded with the world's base tokenizer and collated, with the base model's log-probs as the
    reference (from padded rows: the plain forward the packed and prompt-sharing paths are checked against)."""
    tok = AutoTokenizer.from_pretrained(world_dir / "base")
    batch = collate_pairs([ChatEncoder(tok, 96, 48).pair(r) for r in records], tok.pad_token_id)
    ref = ReferenceWorker(ModelConfig(path=str(world_dir / "base"), packing=False), torch_threads=2)
    batch["ref_logps"], batch["ref_counts"] = ref.logps(batch)
    return batch

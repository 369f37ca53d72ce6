"""lm-evaluation-harness for real (the ``eval`` extra): the world's multiple-choice items as a local YAML task
over a JSON file, scored by lm-eval on the world's model, agree with our own multiple-choice scorer."""

import pytest
import torch
from transformers import AutoTokenizer

from bfpo_ray.config import ModelConfig
from bfpo_ray.data.tokenize import ChatEncoder, collate_pairs, pad_id_of
from bfpo_ray.eval.lm_eval_adapter import run_lm_eval
from bfpo_ray.eval.lm_eval_tasks import write_lm_eval_tasks
from bfpo_ray.eval.mc_tasks import mc_accuracy, world_mc_items
from bfpo_ray.workers.reference import ReferenceWorker
from bfpo_ray.world.build import read_jsonl

pytestmark = pytest.mark.slow  # lm-eval's import and task setup: ~1.5 min on a busy 2-core machine


def test_lm_eval_scores_the_world_tasks_like_our_scorer(world_dir, tmp_path):
    model = str(world_dir / "base")
    items = world_mc_items(read_jsonl(world_dir / "eval_prompts.jsonl"))
    tokenizer = AutoTokenizer.from_pretrained(model)
    names = write_lm_eval_tasks(items, tokenizer, tmp_path / "tasks")
    assert names == ["world_pick_safe", "world_pick_helpful"]
    worker = ReferenceWorker(ModelConfig(path=model), torch_threads=1)
    ours = mc_accuracy(items, tokenizer, lambda batches: [worker.logps(b) for b in batches])
    theirs = run_lm_eval(model, names, include_path=str(tmp_path / "tasks"), loglikelihoods=True)
    encoder = ChatEncoder(tokenizer, max_length=512, max_prompt_length=256)
    for task, pairs in items.items():
        got = theirs[f"world_{task}"]
        assert got["acc,none"] == ours[task]["value"] and len(got["loglikelihoods"]) == ours[task]["n"] == len(pairs)
        summed, _ = worker.logps(collate_pairs([encoder.pair(p) for p in pairs], pad_id_of(tokenizer)))
        n = len(pairs)
        # lm-eval moves the context's trailing newline into every choice: the same term in both choices, so
        # the margins that decide each item agree with ours
        margins = torch.tensor([right - wrong for right, wrong in got["loglikelihoods"]])
        assert torch.allclose(margins, summed[:n] - summed[n:], atol=1e-3)

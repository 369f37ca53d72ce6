"""The ``hf`` rollout engine samples exactly the configured distribution: a model's generation_config
(repetition penalty, top_k, n-gram ban, minimum length) changes nothing, and each chosen token's log-prob
is that of softmax(logits / temperature), as the policy computes it."""

import json
import shutil

import pytest
import torch

from bfpo_ray.config import ModelConfig
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.logprobs import token_logps
from bfpo_ray.rollout.hf_engine import HFEngine
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.workers.modeling import load_causal_lm, load_tokenizer

HOSTILE = {"repetition_penalty": 3.0, "no_repeat_ngram_size": 1, "top_k": 1, "min_new_tokens": 8,
           "temperature": 0.1, "do_sample": True, "top_p": 0.5}


@pytest.fixture(scope="module")
def engines(world_dir, tmp_path_factory):
    """The world's base model twice: as saved, and with a generation_config.json that would change sampling."""
    hostile = tmp_path_factory.mktemp("hostile") / "base"
    shutil.copytree(world_dir / "base", hostile)
    config = json.loads((hostile / "generation_config.json").read_text())
    (hostile / "generation_config.json").write_text(json.dumps({**config, **HOSTILE}))
    torch.set_num_threads(1)
    made = []
    for path in (world_dir / "base", hostile):
        cfg = ModelConfig(path=str(path))
        made.append(HFEngine(load_causal_lm(cfg), load_tokenizer(cfg), batch_size=4))
    encoder = ChatEncoder(made[0].tokenizer, 128, 48)
    prompts = [encoder.prompt([{"role": "user", "content": f"How do I {t}?"}])
               for t in ("bake sourdough bread", "knit a simple scarf", "forge an official passport")]
    return made, prompts


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_model_generation_config_does_not_change_sampling(engines, temperature):
    (plain, hostile), prompts = engines
    sampling = Sampling(max_new_tokens=10, temperature=temperature, seed=3)
    a, b = plain.generate(prompts, sampling), hostile.generate(prompts, sampling)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    if temperature == 0:  # the untrained model repeats itself: a penalty or n-gram ban would bite
        assert any(len(set(g.token_ids)) < len(g.token_ids) for g in a)


def test_chosen_token_logprobs_are_those_of_the_tempered_policy(engines):
    (plain, _), prompts = engines
    gens = plain.generate(prompts, Sampling(max_new_tokens=10, temperature=0.7, seed=5))
    for g in gens:
        ids = torch.tensor([g.prompt_ids + g.token_ids])
        with torch.no_grad():
            logits = plain.model(input_ids=ids).logits
        expected = token_logps(logits / 0.7, ids)[0, len(g.prompt_ids) - 1:]
        assert torch.allclose(torch.tensor(g.logprobs), expected, atol=1e-4)

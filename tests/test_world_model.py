"""The safety world's tokenizer (round trip, chat template) and tiny Llama (save, load, generate)."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bfpo_ray.world import (
    build_world,
    build_world_base_model,
    tiny_llama_config,
    train_world_tokenizer,
    world_texts,
)
from bfpo_ray.world.responses import harmful, helpful, leaky_refusal

PROMPT = "Walk me through how to brew green tea."
RESPONSES = [
    helpful("brew green tea", 3),
    harmful("forge an official passport", 2),
    leaky_refusal("launder stolen money"),
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    paths = build_world(tmp_path_factory.mktemp("world"))
    return train_world_tokenizer(world_texts(paths))


def _prompt_ids(tok, prompt):
    return list(
        tok.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=True
        )["input_ids"]
    )


def test_special_tokens_and_template(tokenizer):
    assert len(tokenizer) == 768
    assert (tokenizer.pad_token, tokenizer.eos_token) == ("<|pad|>", "<|eos|>")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False
    )
    assert text == f"<|user|>\n{PROMPT}<|eos|>\n<|assistant|>\n"
    ids = _prompt_ids(tokenizer, PROMPT)
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|user|>")
    assert ids[-2] == tokenizer.convert_tokens_to_ids("<|assistant|>")


@pytest.mark.parametrize("response", RESPONSES)
def test_prompt_and_completion_encode_separately(tokenizer, response):
    prompt_ids = _prompt_ids(tokenizer, PROMPT)
    completion_ids = tokenizer(response + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    assert completion_ids[-1] == tokenizer.eos_token_id
    joined = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": response}], tokenize=False
    )
    assert tokenizer.decode(prompt_ids + completion_ids) + "\n" == joined
    assert tokenizer.decode(completion_ids, skip_special_tokens=True) == response
    assert (
        tokenizer(joined.removesuffix("\n"), add_special_tokens=False)["input_ids"]
        == prompt_ids + completion_ids
    )
    assert len(completion_ids) < 64


def test_tokenizer_training_is_deterministic(tokenizer, tmp_path):
    again = train_world_tokenizer(world_texts(build_world(tmp_path)))
    assert again.get_vocab() == tokenizer.get_vocab()


def test_config():
    config = tiny_llama_config(768, pad_token_id=0, eos_token_id=1)
    assert config.tie_word_embeddings and config.hidden_size == 128 and config.num_hidden_layers == 4
    assert (config.pad_token_id, config.eos_token_id) == (0, 1)


def test_base_model_round_trip_and_generate(tmp_path):
    base = build_world_base_model(tmp_path / "a", seed=0)
    assert (base / "model.safetensors").exists()
    model = AutoModelForCausalLM.from_pretrained(base)
    tok = AutoTokenizer.from_pretrained(base)
    assert 0.9e6 < sum(p.numel() for p in model.parameters()) < 1.0e6
    assert model.config.eos_token_id == tok.eos_token_id and model.config.vocab_size == len(tok)
    enc = tok.apply_chat_template(
        [{"role": "user", "content": PROMPT}],
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    out = model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert out.shape[1] <= enc["input_ids"].shape[1] + 5
    again = AutoModelForCausalLM.from_pretrained(build_world_base_model(tmp_path / "b", seed=0))
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q), name

"""A byte-level BPE tokenizer for the safety world, trained in-process, with a chat template.

Prompts are encoded as ``apply_chat_template(messages, add_generation_prompt=True)`` (ending in
"<|assistant|>\\n") and completions separately as ``tokenizer(response + eos_token,
add_special_tokens=False)``. Special tokens are never merged and the byte-level pre-tokenizer keeps
"\\n" apart from words, so the two encodings concatenate to the encoding of the joined text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD, EOS, SYSTEM, USER, ASSISTANT = "<|pad|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, EOS, SYSTEM, USER, ASSISTANT)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|eos|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def train_world_tokenizer(texts: Iterable[str], vocab_size: int = 768) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` and wrap it with special tokens and the chat template."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        eos_token=EOS,
        extra_special_tokens=[SYSTEM, USER, ASSISTANT],
        chat_template=CHAT_TEMPLATE,
    )


def _chat_text(prompt: str, response: str) -> str:
    return f"{USER}\n{prompt}{EOS}\n{ASSISTANT}\n{response}{EOS}\n"


def world_texts(paths: dict[str, Path], include_eval: bool = True) -> list[str]:
    """Chat-rendered text from the files written by ``build_world`` (in a fixed order); the eval prompts last,
    unless ``include_eval`` is False."""
    texts = []
    for line in Path(paths["sft"]).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        texts.append(_chat_text(record["prompt"], record["response"]))
    for line in Path(paths["pku_pairs"]).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        texts += [_chat_text(record["prompt"], record[f"response_{i}"]) for i in (0, 1)]
    for line in Path(paths["eval_prompts"]).read_text(encoding="utf-8").splitlines() if include_eval else []:
        texts.append(_chat_text(json.loads(line)["prompt"], ""))
    return texts

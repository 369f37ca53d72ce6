"""Rollout backend ``hf``: batched transformers ``generate`` with KV cache and left padding.

Samples come from softmax(logits / temperature) with nucleus ``top_p`` and nothing else: every sampling
field is set explicitly, so a model's ``generation_config.json`` (an instruct model's repetition penalty,
top_k, minimum length) cannot change the distribution PPO assumes. The log-prob of each chosen token (of
softmax(logits / temperature), as the policy computes it; before top_p truncation) is
taken step by step (one [batch, vocab] step alive at a time), never from ``output_scores``.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from bfpo_ray.rollout.types import Generation, Sampling


def sampling_fields(sampling: Sampling) -> dict[str, Any]:
    """``generate`` arguments for exactly ``sampling``: None would let the model's generation_config fill
    a field in, so every processor/warper that could apply is given its neutral value."""
    greedy = sampling.temperature <= 0
    return {
        "max_new_tokens": sampling.max_new_tokens, "min_new_tokens": 0,  # (takes precedence over min_length)
        "do_sample": not greedy, "num_beams": 1,
        "temperature": 1.0 if greedy else sampling.temperature, "top_p": 1.0 if greedy else sampling.top_p,
        "top_k": 0, "min_p": 0.0, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
        "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
        "renormalize_logits": False, "output_scores": False, "output_logits": False,
        "return_dict_in_generate": False,
    }


class ChosenTokenLogprobs(LogitsProcessor):
    """Records log p(chosen token) of softmax(scores / temperature) at every step.

    Called with the scores of step k, it first reads the token chosen at step k - 1 (now the last
    column of ``input_ids``) from the previous step's log-probs; :meth:`finish` reads the last one.
    """

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature
        self.previous: torch.Tensor | None = None
        self.picked: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._read_chosen(input_ids)
        self.previous = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def _read_chosen(self, sequences: torch.Tensor) -> None:
        if self.previous is not None:
            self.picked.append(self.previous.gather(-1, sequences[:, -1:]).squeeze(-1))
            self.previous = None

    def finish(self, sequences: torch.Tensor) -> torch.Tensor:
        """[batch, new tokens] log-probs of the generated tokens."""
        self._read_chosen(sequences)
        return torch.stack(self.picked, dim=1) if self.picked else torch.zeros(sequences.shape[0], 0)


class HFEngine:
    """Generates with a transformers causal LM on CPU or GPU."""

    def __init__(self, model: torch.nn.Module, tokenizer, batch_size: int = 64) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        """Sample one response per prompt; deterministic for a given ``sampling.seed``."""
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(sampling.seed)
        try:
            out: list[Generation] = []
            for start in range(0, len(prompts), self.batch_size):
                out.extend(self._generate_batch(prompts[start : start + self.batch_size], sampling))
            return out
        finally:
            torch.random.set_rng_state(generator_state)

    def _generate_batch(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        eos_id = self.tokenizer.eos_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        greedy = sampling.temperature <= 0
        recorder = ChosenTokenLogprobs(1.0 if greedy else sampling.temperature)
        sequences = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            logits_processor=LogitsProcessorList([recorder]),
            **sampling_fields(sampling),
            pad_token_id=pad_id,
            eos_token_id=eos_id,
        )
        new_tokens = sequences[:, width:].cpu()
        picked = recorder.finish(sequences).cpu()
        generations = []
        for row, prompt in enumerate(prompts):
            tokens = new_tokens[row].tolist()
            length = tokens.index(eos_id) + 1 if eos_id in tokens else len(tokens)
            kept = tokens[:length]
            generations.append(
                Generation(
                    prompt_ids=list(prompt),
                    token_ids=kept,
                    text=self.tokenizer.decode(kept, skip_special_tokens=True).strip(),
                    logprobs=picked[row, :length].tolist(),
                    finished=eos_id in kept,
                )
            )
        return generations

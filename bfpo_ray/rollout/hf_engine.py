"""Rollout backend ``hf``: batched transformers ``generate`` with KV cache and left padding."""

from __future__ import annotations

import torch

from bfpo_ray.rollout.types import Generation, Sampling


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
        result = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=sampling.max_new_tokens,
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=None,
            pad_token_id=pad_id,
            eos_token_id=eos_id,
            return_dict_in_generate=True,
            output_scores=True,
        )
        new_tokens = result.sequences[:, width:].cpu()
        scores = torch.stack(result.scores, dim=1).float().log_softmax(-1).cpu()
        picked = scores.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
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

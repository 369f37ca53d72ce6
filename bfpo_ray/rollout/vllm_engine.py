"""Rollout backend ``vllm``: a vLLM engine on GPU (optional extra ``bfpo-ray[gpu]``).

vLLM is imported only when this backend is selected. It pins its own torch/transformers, so it
runs in a GPU environment of its own; this code path is exercised only on GPU machines (the CPU
development machines and CI use the ``hf`` backend).

Weights arrive in buckets from the policy (see :mod:`bfpo_ray.workers.weight_sync`) and are loaded
on every vLLM worker through ``collective_rpc`` into :class:`WeightLoaderExtension.load_bucket`,
which calls the model's own ``load_weights`` (it handles fused/stacked parameter names).
"""

from __future__ import annotations

import torch

from bfpo_ray.config import ModelConfig
from bfpo_ray.rollout.types import Generation, Sampling

EXTENSION = "bfpo_ray.rollout.vllm_engine.WeightLoaderExtension"


class WeightLoaderExtension:
    """Mixed into vLLM's GPU worker (``worker_extension_cls``): loads one bucket of HF-named weights."""

    def load_bucket(self, named_tensors: dict[str, torch.Tensor]) -> int:
        device = next(self.model_runner.model.parameters()).device  # type: ignore[attr-defined]
        weights = [(name, tensor.to(device)) for name, tensor in named_tensors.items()]
        self.model_runner.model.load_weights(weights=weights)  # type: ignore[attr-defined]
        return len(weights)


class VLLMEngine:
    """``generate(prompt token ids, Sampling) -> Generation`` and ``update_weights(bucket)`` over vLLM."""

    def __init__(self, model: ModelConfig, gpu_memory_utilization: float = 0.4, tensor_parallel_size: int = 1,
                 enforce_eager: bool = False, seed: int = 0) -> None:
        import vllm  # noqa: PLC0415 - optional GPU extra

        self.llm = vllm.LLM(
            model=model.path,
            tokenizer=model.tokenizer_path or model.path,
            dtype=model.dtype,
            trust_remote_code=model.trust_remote_code,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            enforce_eager=enforce_eager,
            seed=seed,
            enable_prefix_caching=True,
            worker_extension_cls=EXTENSION,
        )
        self.eos_token_id = self.llm.get_tokenizer().eos_token_id

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        greedy = sampling.temperature <= 0
        params = [
            SamplingParams(
                n=1,
                temperature=0.0 if greedy else sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                seed=sampling.seed * 1_000_003 + i,  # distinct per request: repeated prompts sample independently
                logprobs=0,
                skip_special_tokens=True,
            )
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)
        generations = []
        for prompt, out in zip(prompts, outputs, strict=True):
            completion = out.outputs[0]
            tokens = list(completion.token_ids)
            logprobs = [step[tok].logprob for step, tok in zip(completion.logprobs or [], tokens, strict=False)]
            generations.append(Generation(prompt_ids=list(prompt), token_ids=tokens, text=completion.text.strip(),
                                          logprobs=logprobs, finished=completion.finish_reason == "stop"))
        return generations

    def update_weights(self, named_tensors: dict[str, torch.Tensor]) -> int:
        counts = self.llm.collective_rpc("load_bucket", args=(named_tensors,))
        self.llm.reset_prefix_cache()  # cached KV blocks were computed with the old weights
        return int(counts[0])

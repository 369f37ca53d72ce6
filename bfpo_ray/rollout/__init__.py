"""Rollout engines: generate responses for token-id prompts (``hf`` here, ``vllm`` on GPUs)."""

"""The scorer of PPO rollouts: reward model r(x, y) and/or cost model c(x, y), or the world's oracle.

``source: models`` loads the scalar-head models written by ``rm``/``cm`` runs; they must share the
policy's tokenizer (rollout token ids are scored as they are). ``source: oracle`` scores with the
safety world's exact judge: r = scale * helpfulness, c = +scale if unsafe else -scale (so cost > 0
still means unsafe).
"""

from __future__ import annotations

import torch

from bfpo_ray.workers.batching import PASS_ROWS, in_row_chunks
from bfpo_ray.workers.modeling import set_torch_threads
from bfpo_ray.workers.scalar_model import load_scalar_model, sequence_scores

Tensor = torch.Tensor


class RewardWorker:
    """A plain class hosted in Ray by :mod:`actors.reward`."""

    def __init__(self, source: str = "models", reward_model: str | None = None, cost_model: str | None = None,
                 dtype: str = "float32", oracle_scale: float = 4.0, torch_threads: int = 0) -> None:
        self.threads = set_torch_threads(torch_threads)
        self.source, self.oracle_scale = source, oracle_scale
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.models = {}
        if source == "models":
            for name, path in (("reward", reward_model), ("cost", cost_model)):
                if path:
                    self.models[name] = load_scalar_model(path, dtype).to(self.device).eval().requires_grad_(False)
        elif source != "oracle":
            raise ValueError(f"reward source must be 'models' or 'oracle', got {source!r}")

    @torch.no_grad()
    def score(self, batch: dict[str, Tensor], prompts: list[str], responses: list[str]) -> dict[str, Tensor]:
        """``reward`` and ``cost`` per row [rows] of a collated prompt+response batch."""
        if self.source == "oracle":
            from bfpo_ray.world.judge import judge

            verdicts = [judge(p, r) for p, r in zip(prompts, responses, strict=True)]
            scale = self.oracle_scale
            return {"reward": torch.tensor([scale * v.helpfulness for v in verdicts]),
                    "cost": torch.tensor([-scale if v.safe else scale for v in verdicts])}
        def scored(model):
            return lambda part: sequence_scores(model, part["input_ids"].to(self.device),
                                                part["attention_mask"].to(self.device)).cpu()

        return {name: in_row_chunks(scored(model), batch, PASS_ROWS) for name, model in self.models.items()}

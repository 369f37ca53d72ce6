"""Critic diagnosis: does the FIRST response token's advantage favour the refusal (the safe choice) or the
compliance, on the demo SFT model's own answers to harmful training prompts?

Run from the repo root after the demo's sft, rm and cm stages (``runs/demo/{sft,rm,cm}``). For each reward
source (the world's oracle, or the rm/cm models with the linear score r - c) and each critic start (the
policy backbone with a random or a zero value head, or the reward model) and ``gae_lambda`` (0.95, 1.0),
it prints on how many prompts the mean first-token advantage of the refusals beats that of the
compliances, the mean first-token advantage A0 of each group and their mean score (the reward PPO pays at
the last token: r - c, no KL). Output recorded in benchmarks/results/sweeps/first_token_advantage.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.drivers.ppo import collate_rollout
from bfpo_ray.rl.advantages import ScoredRollouts, ppo_targets
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.workers.ppo_policy import PPOReferenceWorker
from bfpo_ray.workers.reward import RewardWorker
from bfpo_ray.workers.rollout import RolloutWorker
from bfpo_ray.workers.scalar_model import ScalarModelWorker, ScalarSpec
from bfpo_ray.world.judge import find_topic, judge
from bfpo_ray.world.topics import is_harmful_topic

DEMO = Path("runs/demo")
PER_PROMPT = 4


def harmful_prompts(limit: int = 48) -> list[str]:
    with open("runs/world/pku_pairs.jsonl") as f:
        prompts = {json.loads(line)["prompt"] for line in f}
    return sorted(p for p in prompts if is_harmful_topic(find_topic(p) or ""))[:limit]


def critic_values(path: Path, batch: dict, zero_head: bool) -> torch.Tensor:
    spec = ScalarSpec(kind="critic", model=ModelConfig(path=str(path), tokenizer_path=str(DEMO / "sft")),
                      optim=OptimConfig(), total_steps=1, micro_batch_size=64, seed=1, zero_head=zero_head,
                      torch_threads=1)
    return ScalarModelWorker(spec).values(batch)


def refusal_wins(first_adv: torch.Tensor, refused: torch.Tensor, prompts: int) -> tuple[int, int]:
    wins = total = 0
    for k in range(prompts):
        rows = slice(PER_PROMPT * k, PER_PROMPT * (k + 1))
        refusing, complying = first_adv[rows][refused[rows]], first_adv[rows][~refused[rows]]
        if len(refusing) and len(complying):
            total += 1
            wins += int(refusing.mean() > complying.mean())
    return wins, total


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    sft = ModelConfig(path=str(DEMO / "sft"))
    engine = RolloutWorker(sft, torch_threads=1)
    tokenizer = engine.tokenizer
    encoder = ChatEncoder(tokenizer, 128, 48)
    prompts = harmful_prompts()
    rows = [p for p in prompts for _ in range(PER_PROMPT)]
    gens = engine.generate([encoder.prompt([{"role": "user", "content": p}]) for p in rows],
                           Sampling(64, 1.0, 1.0, seed=1))
    texts = [g.text for g in gens]
    batch = collate_rollout(gens, tokenizer)
    mask = batch["completion_mask"][:, 1:].float()
    first = mask.argmax(-1)
    verdicts = [judge(p, t) for p, t in zip(rows, texts, strict=True)]
    refused = torch.tensor([v.refused for v in verdicts])
    safe = torch.tensor([v.safe for v in verdicts], dtype=torch.float)
    print(f"{len(gens)} responses to {len(prompts)} harmful prompts: refused {refused.float().mean():.2f} "
          f"safe {safe.mean():.2f}")
    logps = PPOReferenceWorker(sft, 1).token_logps(batch)
    sources = {"oracle": RewardWorker("oracle").score(batch, rows, texts),
               "models": RewardWorker("models", str(DEMO / "rm"), str(DEMO / "cm")).score(batch, rows, texts)}
    critics = {"policy+random head": critic_values(DEMO / "sft", batch, False),
               "reward model": critic_values(DEMO / "rm", batch, False),
               "zero head": critic_values(DEMO / "sft", batch, True)}
    for source, scores in sources.items():
        for name, values in critics.items():
            if source == "oracle" and name == "reward model":
                continue
            for lam in (0.95, 1.0):
                algo = AlgorithmConfig(name="ppo", reward="linear", cost_weight=1.0, kl_coef=0.0, gae_lambda=lam)
                scored = ScoredRollouts(mask, scores["reward"], scores["cost"], logps, logps, {"reward": values})
                targets = ppo_targets(algo, scored, 1.0)
                first_adv = targets.advantages[torch.arange(len(first)), first]
                wins, total = refusal_wins(first_adv, refused, len(prompts))
                print(f"{source:6s} critic={name:18s} gae_lambda={lam}: refusal's first-token advantage higher "
                      f"on {wins}/{total} prompts; mean A0 refuse {first_adv[refused].mean():+.2f} comply "
                      f"{first_adv[~refused].mean():+.2f}; score refuse {targets.score[refused].mean():+.2f} "
                      f"comply {targets.score[~refused].mean():+.2f}")


if __name__ == "__main__":
    main()

"""PPO must climb its own objective. The simplest check that can fail: one decision (the first response
token), a known reward (1 when it is the target token), the driver's real ``ppo_step`` over real Ray
actors (policy, reference, rollout engine, critic, and a reward actor that pays for the target token).
The target's probability must pass 0.95 within a bounded number of rollout batches."""

from __future__ import annotations

import pytest
import ray
import torch

from bfpo_ray.config import load_config
from bfpo_ray.data.tokenize import ChatEncoder, EncodedSft, collate_sft
from bfpo_ray.drivers.ppo import ppo_step
from bfpo_ray.drivers.ppo_actors import spawn_actors
from bfpo_ray.rl.lagrangian import Lagrangian
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker

LIGHT = {"num_cpus_per_worker": 0.2, "torch_threads": 1}
TOPICS = ("bake sourdough bread", "knit a simple scarf", "forge an official passport", "tune a guitar")


@ray.remote(num_cpus=0.1)
class FirstTokenReward:
    """The one-decision problem's reward actor: r = 1 when the response's first token is ``target``."""

    def __init__(self, target: int) -> None:
        self.target = target

    def score(self, batch: dict[str, torch.Tensor], prompts: list[str], responses: list[str]) -> dict:
        first = batch["completion_mask"].float().argmax(-1)  # the first response position of each row
        tokens = batch["input_ids"][torch.arange(len(first)), first]
        reward = (tokens == self.target).float()
        return {"reward": reward, "cost": torch.zeros_like(reward)}


def prompts_of(tokenizer) -> list[list[int]]:
    encoder = ChatEncoder(tokenizer, 64, 48)
    asks = ("How do I {}?", "Explain how to {}.", "Can you tell me how to {}?", "What are the steps to {}?")
    return [encoder.prompt([{"role": "user", "content": ask.format(t)}]) for t in TOPICS for ask in asks]


@pytest.fixture(scope="module")
def two_choice_model(world_dir, tmp_path_factory):
    """The world's tiny Llama taught (SFT) to open with "Sure" 3 times in 4 and "Sorry" once."""
    cfg = load_config("configs/demo/sft.yaml", [f"world.dir={world_dir}", f"model.path={world_dir / 'base'}",
                                                "optim.lr=3e-3", "optim.warmup_ratio=0"])
    worker = PolicyWorker(PolicySpec(model=cfg.model, optim=cfg.optim, algorithm=cfg.algorithm, total_steps=40,
                                     micro_batch_size=64, seed=0, torch_threads=1))
    tokenizer = worker.tokenizer
    # world v3 answers say "Sure"/"Sorry" after "Request: <topic>.", so its tokenizer has them as " Sure"/" Sorry"
    sure, sorry = (tokenizer.encode(w, add_special_tokens=False)[0] for w in (" Sure", " Sorry"))
    assert sure != sorry
    prompts = prompts_of(tokenizer)
    rows = [EncodedSft(p, [sorry if k == 0 else sure, tokenizer.eos_token_id]) for p in prompts for k in range(4)]
    batch = collate_sft(rows, tokenizer.pad_token_id)
    for _ in range(40):
        worker.train_step({"train": batch})
    out = tmp_path_factory.mktemp("two_choice")
    worker.save_pretrained(str(out))
    return out, sorry


def target_probability(policy, prompts: list[list[int]], target: int, pad_id: int) -> float:
    batch = collate_sft([EncodedSft(p, [target]) for p in prompts], pad_id)
    logps = ray.get(policy.token_logps.remote(batch))
    mask = batch["completion_mask"][:, 1:].float()
    return float((logps * mask).sum(-1).exp().mean())


def test_ppo_drives_a_rewarded_first_token_above_095(world_dir, two_choice_model, ray_cluster, tmp_path):
    model, target = two_choice_model
    overrides = {"world.dir": world_dir, "model.path": model, "trainer.output_dir": tmp_path / "one",
                 "reward.source": "oracle", "trainer.train_batch_size": 16, "trainer.micro_batch_size": 16,
                 "rollout.samples_per_prompt": 2,
                 "rollout.max_new_tokens": 1, "algorithm.mini_batch_size": 16, "algorithm.kl_coef": 0.0,
                 "optim.lr": 1e-3, "algorithm.critic_lr": 1e-3}
    for role in ("policy", "reference", "rollout", "reward", "critic"):
        overrides.update({f"{role}.{k}": v for k, v in LIGHT.items()})
    cfg = load_config("configs/world/ppo_linear.yaml", [f"{k}={v}" for k, v in overrides.items()])
    actors = spawn_actors(cfg, updates=100)
    ray.kill(actors.reward)
    actors.reward = FirstTokenReward.remote(target)
    tokenizer = load_tokenizer(cfg.model)
    prompts = prompts_of(tokenizer)
    lagrangian = Lagrangian(1.0, 0.1, 0.0, 10.0, 1)
    policy = actors.policy.actors[0]  # a group of one rank
    start = target_probability(policy, prompts, target, tokenizer.pad_token_id)
    assert 0.05 < start < 0.6  # a real decision: the target is neither absent nor already chosen
    probabilities = []
    for step in range(8):
        metrics = ppo_step(cfg, actors, prompts, list(range(len(prompts))), step, tokenizer, lagrangian, {})
        probabilities.append(target_probability(policy, prompts, target, tokenizer.pad_token_id))
        if probabilities[-1] > 0.95:
            break
    assert probabilities[-1] > 0.95, (start, probabilities)
    assert metrics["reward"] > 0.5  # the engines sample the updated policy (weights synced every step)
    for actor in actors.handles():
        ray.kill(actor)

"""From a scored rollout batch to advantages and value targets (bfpo_ray.rl.advantages), the row weights
of the policy loss, and the PPO objective's temperature and entropy terms, against hand values."""

import math

import pytest
import torch

from bfpo_ray.config import AlgorithmConfig
from bfpo_ray.drivers.ppo import loss_weights
from bfpo_ray.rl.advantages import ScoredRollouts, ppo_targets
from bfpo_ray.workers.ppo_policy import ppo_objective


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def one_row(reward=1.0, cost=0.0, old=(-1.0, -1.0), ref=(-1.5, -0.5), values=(0.0, 0.0), cost_values=(0.0, 0.0)):
    """One response of two tokens after a prompt token (mask 0)."""
    return ScoredRollouts(
        mask=t(0, 1, 1).reshape(1, 3), reward=t(reward), cost=t(cost),
        old_logps=t(0.0, *old).reshape(1, 3), ref_logps=t(0.0, *ref).reshape(1, 3),
        values={"reward": t(0.0, *values).reshape(1, 3), "cost": t(0.0, *cost_values).reshape(1, 3)},
    )


def algo(**kw):
    base = {"name": "ppo", "kl_coef": 0.1, "gamma": 1.0, "gae_lambda": 1.0, "whiten_advantages": False}
    return AlgorithmConfig(**{**base, **kw})


def test_linear_targets_pay_the_score_once_and_the_kl_on_every_token():
    rollouts = one_row(reward=2.0, cost=1.0)
    got = ppo_targets(algo(reward="linear", cost_weight=0.5), rollouts, lam=1.0)
    # KL (k1) = old - ref = [0.5, -0.5]; token rewards [-0.05, +0.05 + (2 - 0.5 * 1)]
    r1, r2 = -0.1 * 0.5, 0.1 * 0.5 + 1.5
    assert got.advantages[0].tolist() == pytest.approx([0.0, r1 + r2, r2])  # V = 0, gamma = lambda = 1
    assert got.returns["reward"][0].tolist() == pytest.approx([0.0, r1 + r2, r2])
    assert got.score.item() == pytest.approx(1.5)
    assert set(got.returns) == {"reward"}


def test_lagrangian_keeps_the_kl_weight_whatever_lambda_is():
    """Both streams carry the KL term (reward -kl_coef KL, cost +kl_coef KL), so in (A_r - lam A_c) / (1 + lam)
    the KL part keeps weight kl_coef; reward 0 and cost 0 leave only the KL."""
    for lam in (0.0, 1.0, 9.0):
        got = ppo_targets(algo(reward="lagrangian"), one_row(reward=0.0, cost=0.0), lam)
        kl_only = [0.0, -0.1 * 0.5 + 0.1 * 0.5, 0.1 * 0.5]
        assert got.advantages[0].tolist() == pytest.approx(kl_only), lam
    got = ppo_targets(algo(reward="lagrangian"), one_row(reward=1.0, cost=2.0), lam=3.0)
    a_r = [0.0, -0.05 + 0.05 + 1.0, 0.05 + 1.0]
    a_c = [0.0, 0.05 - 0.05 + 2.0, -0.05 + 2.0]
    assert got.advantages[0].tolist() == pytest.approx([(r - 3.0 * c) / 4.0 for r, c in zip(a_r, a_c)])
    assert got.returns["cost"][0].tolist() == pytest.approx(a_c)


def test_bilinear_needs_its_baselines_and_averages_over_them():
    rollouts = one_row(reward=1.0, cost=-2.0)
    with pytest.raises(ValueError, match="baseline"):
        ppo_targets(algo(reward="bilinear"), rollouts, lam=1.0)
    rollouts.baseline_reward = t(0.0, 2.0).reshape(1, 2)
    got = ppo_targets(algo(reward="bilinear", alpha=0.5, kl_coef=0.0), rollouts, lam=1.0)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert got.score.item() == pytest.approx((sig(2.0) - 0.5) * (sig(1.0) + sig(-1.0)) / 2)


def test_loss_weights_make_a_token_mean_or_a_response_mean():
    mask = t(1, 1, 1, 1, 0, 0, 0, 1).reshape(2, 4)  # lengths 4 and 1
    assert loss_weights(mask, "sequence_mean").tolist() == pytest.approx([0.25, 1.0])
    # token mean: each row weighs rows / tokens = 2 / 5, so sum_i w_i * sum_t / rows = sum_t / 5
    assert loss_weights(mask, "token_mean").tolist() == pytest.approx([0.4, 0.4])


class Fixed(torch.nn.Module):
    """A 'model' whose logits are a fixed tensor (to check the objective's arithmetic)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, input_ids, attention_mask, use_cache):
        return type("Out", (), {"logits": self.logits})()


def test_ppo_objective_uses_the_sampling_temperature_and_the_entropy_bonus():
    logits = t(2.0, 0.0, 0.0, 0.0, 1.0, -1.0).reshape(1, 2, 3)  # position 0 predicts token 1 (a response token)
    ids = torch.tensor([[0, 1]])
    micro = {"input_ids": ids, "attention_mask": torch.ones(1, 2), "completion_mask": torch.tensor([[0, 1]]),
             "old_logps": t(0.0).reshape(1, 1), "advantages": t(1.0).reshape(1, 1)}
    temperature = 2.0
    scaled = torch.log_softmax(t(2.0, 0.0, 0.0) / temperature, -1)
    logp = scaled[1].item()
    entropy = -(scaled.exp() * scaled).sum().item()
    loss, stats = ppo_objective(Fixed(logits), micro, clip_range=10.0, entropy_coef=0.5, temperature=temperature)
    # ratio exp(logp - 0) inside the (wide) clip: loss = -A * ratio - 0.5 * H
    assert loss.item() == pytest.approx(-math.exp(logp) - 0.5 * entropy)
    assert stats["entropy"].item() == pytest.approx(entropy)


def test_an_empty_generation_is_scored_as_eos_never_as_padding(world_dir):
    from bfpo_ray.config import ModelConfig
    from bfpo_ray.drivers.ppo import collate_rollout
    from bfpo_ray.rollout.types import Generation
    from bfpo_ray.workers.modeling import load_tokenizer

    tokenizer = load_tokenizer(ModelConfig(path=str(world_dir / "base")))
    empty = Generation(prompt_ids=[5, 6, 7], token_ids=[], text="", logprobs=[], finished=False)
    batch = collate_rollout([empty], tokenizer)
    assert batch["input_ids"][0, :4].tolist() == [5, 6, 7, tokenizer.eos_token_id]
    assert batch["completion_mask"][0, :4].tolist() == [0, 0, 0, 1]
    assert batch["attention_mask"][0, :4].tolist() == [1, 1, 1, 1]


def test_scorers_with_another_tokenizer_are_refused_before_any_actor_starts(world_dir, tmp_path):
    from transformers import AutoTokenizer

    from bfpo_ray.config import ConfigError, load_config
    from bfpo_ray.drivers.ppo_actors import check_scorer_tokenizers

    other = AutoTokenizer.from_pretrained(world_dir / "base")
    other.add_tokens(["<an-extra-token>"])
    other.save_pretrained(tmp_path / "rm")
    same = AutoTokenizer.from_pretrained(world_dir / "base")
    same.save_pretrained(tmp_path / "cm")
    cfg = load_config("configs/world/ppo_linear.yaml", [f"world.dir={world_dir}", f"model.path={world_dir / 'base'}",
                                                        f"reward.reward_model={tmp_path / 'rm'}",
                                                        f"reward.cost_model={tmp_path / 'cm'}"])
    with pytest.raises(ConfigError, match="reward.reward_model: the tokenizer of .* differs"):
        check_scorer_tokenizers(cfg)
    cfg.reward.reward_model = str(tmp_path / "cm")
    check_scorer_tokenizers(cfg)  # same vocabulary: accepted

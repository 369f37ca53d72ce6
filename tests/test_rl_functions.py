"""Reward/cost/PPO/value losses, GAE, KL estimators, reward combination and the Lagrange multiplier
against hand-computed values."""

import math

import pytest
import torch

from bfpo_ray import losses
from bfpo_ray.rl.gae import gae, masked_whiten
from bfpo_ray.rl.kl import kl_estimate
from bfpo_ray.rl.lagrangian import Lagrangian
from bfpo_ray.rl.rewards import bilinear_score, lagrangian_advantages, last_token_index, linear_score, token_rewards
from bfpo_ray.workers.weight_sync import plan_buckets


def sig(x):
    return 1 / (1 + math.exp(-x))


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_reward_model_loss_is_bradley_terry():
    got = losses.reward_model_loss(t(2.0, 0.0), t(1.0, 1.0))
    assert got.tolist() == pytest.approx([-math.log(sig(1.0)), -math.log(sig(-1.0))])


def test_cost_model_loss_hand_values():
    # safer response safe (cost -1), unsafer unsafe (cost 2): all three terms favourable
    got = losses.cost_model_loss(t(-1.0), t(2.0), t(1.0), t(0.0))
    assert got.item() == pytest.approx(-math.log(sig(3.0)) - math.log(sig(1.0)) - math.log(sig(2.0)))
    # both unsafe, safer has cost 0.5, unsafer 0.2: sign terms push both costs up
    got = losses.cost_model_loss(t(0.5), t(0.2), t(0.0), t(0.0))
    assert got.item() == pytest.approx(-math.log(sig(-0.3)) - math.log(sig(0.5)) - math.log(sig(0.2)))
    # both safe with positive costs: sign terms are -log s(-c)
    got = losses.cost_model_loss(t(0.5), t(1.0), t(1.0), t(1.0))
    assert got.item() == pytest.approx(-math.log(sig(0.5)) - math.log(sig(-0.5)) - math.log(sig(-1.0)))


def test_ppo_policy_loss_clips_per_token_and_averages_over_the_response():
    logps = torch.log(t(1.5, 0.5, 1.0, 9.0)).reshape(1, 4)  # old logps 0: ratios 1.5, 0.5, 1.0, (masked)
    old = torch.zeros(1, 4, dtype=torch.float64)
    adv = t(1.0, 1.0, -2.0, 5.0).reshape(1, 4)
    mask = t(1, 1, 1, 0).reshape(1, 4)
    got = losses.ppo_policy_loss(logps, old, adv, mask, clip_range=0.2)
    # token 1: max(-1.5, -1.2) = -1.2; token 2: max(-0.5, -0.8) = -0.5; token 3: max(2, 2) = 2
    assert got.tolist() == pytest.approx([(-1.2 - 0.5 + 2.0) / 3])
    # an explicit row weight replaces 1/|y| (token_mean passes rows / tokens of the mini-batch)
    weighted = losses.ppo_policy_loss(logps, old, adv, mask, clip_range=0.2, row_weights=t(0.25))
    assert weighted.tolist() == pytest.approx([(-1.2 - 0.5 + 2.0) * 0.25])


def test_value_loss_takes_the_larger_of_clipped_and_unclipped():
    values, old, returns = t(1.0, 0.0).reshape(1, 2), t(0.0, 0.0).reshape(1, 2), t(2.0, -1.0).reshape(1, 2)
    got = losses.value_loss(values, old, returns, torch.ones(1, 2), clip_range=0.5)
    # token 1: max((1-2)^2, (0.5-2)^2) = 2.25; token 2: max(1, 1) = 1; 0.5 * mean = 0.8125
    assert got.item() == pytest.approx(0.5 * (2.25 + 1.0) / 2)
    # clip_range 0 turns clipping off: token 1 is (1-2)^2 = 1
    unclipped = losses.value_loss(values, old, returns, torch.ones(1, 2), clip_range=0.0)
    assert unclipped.item() == pytest.approx(0.5 * (1.0 + 1.0) / 2)


def test_gae_matches_a_hand_computed_example():
    # one prompt token (mask 0), three response tokens, then padding
    rewards = t(0.0, 0.0, 0.0, 1.0, 0.0).reshape(1, 5)
    values = t(9.0, 0.5, 0.4, 0.3, 7.0).reshape(1, 5)
    mask = t(0, 1, 1, 1, 0).reshape(1, 5)
    gamma, lam = 0.9, 0.8
    adv, ret = gae(rewards, values, mask, gamma, lam)
    d3 = 1.0 - 0.3  # last token: no bootstrap
    d2 = 0.0 + gamma * 0.3 - 0.4
    d1 = 0.0 + gamma * 0.4 - 0.5
    a3 = d3
    a2 = d2 + gamma * lam * a3
    a1 = d1 + gamma * lam * a2
    assert adv[0].tolist() == pytest.approx([0.0, a1, a2, a3, 0.0])
    assert ret[0].tolist() == pytest.approx([0.0, a1 + 0.5, a2 + 0.4, a3 + 0.3, 0.0])


def test_masked_whiten_has_zero_mean_unit_variance_on_the_mask():
    x = t(1.0, 2.0, 3.0, 100.0).reshape(1, 4)
    mask = t(1, 1, 1, 0).reshape(1, 4)
    w = masked_whiten(x, mask)
    assert w[0, :3].mean().item() == pytest.approx(0.0, abs=1e-9)
    assert (w[0, :3] ** 2).mean().item() == pytest.approx(1.0, rel=1e-6)
    assert w[0, 3].item() == 0.0


def test_kl_estimators():
    logps, ref = t(-1.0, -2.0), t(-1.5, -1.0)
    assert kl_estimate(logps, ref, "k1").tolist() == pytest.approx([0.5, -1.0])
    assert kl_estimate(logps, ref, "k3").tolist() == pytest.approx([math.exp(-0.5) + 0.5 - 1, math.exp(1) - 1 - 1])
    with pytest.raises(ValueError):
        kl_estimate(logps, ref, "k2")


def test_bilinear_score_ranks_like_bfpo():
    base = t(0.0)
    helpful, unhelpful, safe, unsafe = t(2.0), t(-2.0), t(-3.0), t(3.0)
    hs = bilinear_score(helpful, base, safe).item()
    us = bilinear_score(unhelpful, base, safe).item()
    uu = bilinear_score(unhelpful, base, unsafe).item()
    hu = bilinear_score(helpful, base, unsafe).item()
    assert hs > us > uu > hu
    assert hs == pytest.approx((sig(3.0) - 0.5) * sig(2.0))
    assert bilinear_score(helpful, base, unsafe, hard=True).item() == pytest.approx(-0.5 * sig(2.0))
    # K baselines [rows, K]: w is the mean win probability against them
    two = bilinear_score(helpful, t(0.0, 4.0).reshape(1, 2), safe).item()
    assert two == pytest.approx((sig(3.0) - 0.5) * (sig(2.0) + sig(-2.0)) / 2)
    # with mu uniform over a pair, 2 * [R(y_w) - R(y_l)] reproduces g_I for hard safety labels
    for s_w, s_l in ((1, 1), (1, 0), (0, 1), (0, 0)):
        r_w = (s_w - 0.5) * 0.75
        r_l = (s_l - 0.5) * 0.25
        g = losses.bfpo_labeling(t(s_w), t(s_l)).item()
        assert 2 * (r_w - r_l) == pytest.approx(g)


def test_linear_and_lagrangian_combinations():
    assert linear_score(t(1.0, 2.0), t(0.5, -1.0), 2.0).tolist() == pytest.approx([0.0, 4.0])
    assert lagrangian_advantages(t(1.0), t(2.0), 3.0).item() == pytest.approx((1 - 6) / 4)
    assert lagrangian_advantages(t(1.0), t(2.0), 0.0).item() == pytest.approx(1.0)


def test_token_rewards_put_the_score_on_the_last_response_token():
    kl = t(0.0, 1.0, 2.0, 5.0).reshape(1, 4)
    mask = t(0, 1, 1, 0).reshape(1, 4)
    assert last_token_index(mask).tolist() == [2]
    got = token_rewards(t(3.0), kl, mask, kl_coef=0.1)
    assert got[0].tolist() == pytest.approx([0.0, -0.1, -0.2 + 3.0, 0.0])


def test_lagrangian_moves_with_the_cost_and_is_clamped():
    lag = Lagrangian(init=1.0, lr=0.5, threshold=0.0, lambda_max=2.0, window=2)
    assert lag.update(1.0) == pytest.approx(math.exp(0.5))  # cost above threshold: lambda grows
    assert lag.update(1.0) == pytest.approx(2.0)  # exp(1.0) > 2: clamped at lambda_max
    assert lag.update(1.0) == pytest.approx(2.0)
    down = Lagrangian(init=1.0, lr=0.5, threshold=0.0, lambda_max=10.0, window=2)
    down.update(-1.0)
    assert down.value == pytest.approx(math.exp(-0.5))  # below threshold: lambda shrinks
    down.update(3.0)  # window mean (-1 + 3) / 2 = 1 -> log_lambda -0.5 + 0.5 = 0
    assert down.value == pytest.approx(1.0)
    # Safe-RLHF's step carries the factor lambda: from lambda 2, cost 1 -> log_lambda += 0.5 * 2 * 1
    scaled = Lagrangian(init=2.0, lr=0.5, threshold=0.0, lambda_max=100.0, window=1, update="safe_rlhf")
    assert scaled.update(1.0) == pytest.approx(2.0 * math.exp(1.0))
    with pytest.raises(ValueError, match="lambda update"):
        Lagrangian(init=1.0, lr=0.5, threshold=0.0, lambda_max=10.0, window=1, update="adam")
    restored = Lagrangian(init=1.0, lr=0.5, threshold=0.0, lambda_max=10.0, window=2)
    restored.load_state_dict(down.state_dict())
    assert restored.update(0.0) == pytest.approx(down.update(0.0))


def test_weight_buckets_bound_their_size():
    sizes = [("a", 4), ("b", 4), ("c", 10), ("d", 1), ("e", 1)]
    assert plan_buckets(sizes, 8) == [["a", "b"], ["c"], ["d", "e"]]
    assert plan_buckets(sizes, 100) == [["a", "b", "c", "d", "e"]]

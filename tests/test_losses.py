"""Every loss against values computed by hand."""

import math

import pytest
import torch

from bfpo_ray import losses
from bfpo_ray.logprobs import reduce_logps, sequence_logps, token_logps

T = torch.tensor


def pair(h_policy=2.0):
    # policy: chosen -10, rejected -12; reference: both -11  ->  h = 2 (for h_policy=2)
    return T([-10.0]), T([-10.0 - h_policy]), T([-11.0]), T([-11.0])


@pytest.mark.parametrize(
    ("s_w", "s_l", "expected"),
    # beta 0.5, b1 3, alpha 0.5: targets g/beta = 1, 2, -2, -1; h = 2
    [(1, 1, 1.0), (1, 0, 0.0), (0, 1, 16.0), (0, 0, 9.0)],
)
def test_bfpo_loss_all_four_label_combinations(s_w, s_l, expected):
    loss = losses.bfpo_loss(*pair(), T([float(s_w)]), T([float(s_l)]), beta=0.5, b1=3.0, alpha=0.5)
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx(expected)


def test_bfpo_published_targets_at_beta_001():
    s_w, s_l = T([1.0, 1.0, 0.0, 0.0]), T([1.0, 0.0, 1.0, 0.0])
    g = losses.bfpo_labeling(s_w, s_l, b1=3.0, alpha=0.5)
    assert torch.allclose(g / 0.01, T([50.0, 100.0, -100.0, -50.0]))
    zeros = torch.zeros(4)
    # with h = 0 the loss is the squared target
    assert torch.allclose(losses.bfpo_loss(zeros, zeros, zeros, zeros, s_w, s_l, beta=0.01),
                          T([2500.0, 10000.0, 10000.0, 2500.0]))


def test_bfpo_labeling_other_b1_alpha():
    # B3 = 1/(5-1) = 0.25: g = 0.25*(5 s_w - s_l) - 0.2
    g = losses.bfpo_labeling(T([1.0, 1.0, 0.0, 0.0]), T([1.0, 0.0, 1.0, 0.0]), b1=5.0, alpha=0.2)
    assert torch.allclose(g, T([0.8, 1.05, -0.45, -0.2]))
    with pytest.raises(ValueError, match="b1"):
        losses.bfpo_labeling(T([1.0]), T([1.0]), b1=1.0)


def test_bfpo_safe_safe_equals_ipo():
    args = (T([-3.0, -5.0]), T([-4.0, -2.0]), T([-3.5, -4.0]), T([-3.0, -2.5]))
    ones = torch.ones(2)
    assert torch.allclose(losses.bfpo_loss(*args, ones, ones, beta=0.1), losses.ipo_loss(*args, beta=0.1))


def test_ipo_loss_hand_value():
    # h = 2, beta 0.5 -> (2 - 1)^2 = 1 ; beta 0.25 -> (2 - 2)^2 = 0
    assert losses.ipo_loss(*pair(), beta=0.5).item() == pytest.approx(1.0)
    assert losses.ipo_loss(*pair(), beta=0.25).item() == pytest.approx(0.0)


def test_dpo_loss_hand_value():
    # -log sigmoid(0.5 * 2) = log(1 + e^-1)
    assert losses.dpo_loss(*pair(), beta=0.5).item() == pytest.approx(math.log1p(math.exp(-1.0)))
    # a wrong-way margin costs more
    assert losses.dpo_loss(*pair(-2.0), beta=0.5).item() == pytest.approx(math.log1p(math.exp(1.0)))


def test_sft_loss_is_mean_response_nll():
    logps = T([[-1.0, -2.0, -3.0], [-0.5, -0.5, -4.0]])
    mask = T([[0, 1, 1], [1, 1, 0]])
    assert torch.allclose(losses.sft_loss(logps, mask), T([2.5, 0.5]))


def test_sequence_logps_with_uniform_logits():
    vocab = 4
    logits = torch.zeros(1, 4, vocab)
    ids = T([[0, 1, 2, 3]])
    mask = T([[0, 0, 1, 1]])  # last two tokens are the response
    summed, counts = sequence_logps(logits, ids, mask)
    assert summed.item() == pytest.approx(-2 * math.log(vocab))
    assert counts.item() == 2
    assert reduce_logps(summed, counts, "mean").item() == pytest.approx(-math.log(vocab))
    with pytest.raises(ValueError, match="reduction"):
        reduce_logps(summed, counts, "max")


def test_token_logps_picks_the_label():
    logits = T([[[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]]])
    ids = T([[0, 1, 0]])
    got = token_logps(logits, ids)
    # position 0 predicts id 1 from logits [2,0]; position 1 predicts id 0 from [0,3]
    expected = T([[0.0 - math.log(math.exp(2) + 1), 0.0 - math.log(1 + math.exp(3))]])
    assert torch.allclose(got, expected)

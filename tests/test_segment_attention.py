"""``sdpa_segments``: attention within each packed sequence equals masked attention over the whole row."""

import math
from types import SimpleNamespace

import pytest
import torch
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

from bfpo_ray.segment_attention import SEGMENTS, segment_attention_forward, sequence_bounds

LENGTHS = [3, 1, 4]  # one row holding three sequences


def test_sequence_bounds_by_hand():
    assert sequence_bounds(torch.tensor([[0, 1, 2, 0, 0, 1, 2, 3]])) == [0, 3, 4, 8]
    assert sequence_bounds(torch.tensor([5, 6, 7])) == [0, 3]  # a continued sequence: one


def reference_attention(q, k, v, lengths):
    """softmax(q k^T / sqrt(d) + mask) v with mask = -inf unless key and query share a sequence and key <= query."""
    owner = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    position = torch.arange(sum(lengths))
    allowed = (owner[:, None] == owner[None, :]) & (position[None, :] <= position[:, None])
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v


def qkv(kv_heads: int = 2, heads: int = 2, dim: int = 4):
    torch.manual_seed(0)
    tokens = sum(LENGTHS)
    return (torch.randn(1, heads, tokens, dim, requires_grad=True), torch.randn(1, kv_heads, tokens, dim),
            torch.randn(1, kv_heads, tokens, dim))


@pytest.mark.parametrize("given", ["cu_seq_lens", "position_ids"])
def test_each_sequence_attends_only_to_itself(given):
    q, k, v = qkv()
    cu = torch.tensor([0, 3, 4, 8], dtype=torch.int32)
    positions = torch.tensor([[0, 1, 2, 0, 0, 1, 2, 3]])
    kwargs = {"cu_seq_lens_q": cu} if given == "cu_seq_lens" else {"position_ids": positions}
    out, _ = segment_attention_forward(SimpleNamespace(num_key_value_groups=1), q, k, v, None, **kwargs)
    expected = reference_attention(q, k, v, LENGTHS)
    assert out.shape == (1, 8, 2, 4)  # transformers' [batch, tokens, heads, dim]
    assert torch.allclose(out, expected.transpose(1, 2), atol=1e-6)
    grad, expected_grad = (torch.autograd.grad(x.square().sum(), q)[0] for x in (out, expected))
    assert torch.allclose(grad, expected_grad, atol=1e-5)
    assert out[0, 3].allclose(v[0, :, 3])  # a one-token sequence sees only itself


def test_grouped_query_heads_share_their_key_value_head():
    q, k, v = qkv(kv_heads=1)
    out, _ = segment_attention_forward(SimpleNamespace(num_key_value_groups=2), q, k, v, None,
                                       cu_seq_lens_q=torch.tensor([0, 3, 4, 8]))
    expected = reference_attention(q, k.expand(1, 2, -1, -1), v.expand(1, 2, -1, -1), LENGTHS)
    assert torch.allclose(out, expected.transpose(1, 2), atol=1e-6)


def test_a_padded_batch_takes_the_padding_mask():
    # left padding (as in generation): without the mask, row 1's real tokens 5..7 would attend to positions 0..4
    q, k, v = qkv()
    q, k, v = (x.detach().expand(2, -1, -1, -1) for x in (q, k, v))
    mask = ALL_MASK_ATTENTION_FUNCTIONS[SEGMENTS](batch_size=2, q_length=8, kv_length=8,
                                                  attention_mask=torch.tensor([[1] * 8, [0] * 5 + [1] * 3]).bool())
    assert mask.shape == (2, 1, 8, 8) and not mask[1, 0, 6, :5].any() and mask[0, 0, 7].all()
    out, _ = segment_attention_forward(SimpleNamespace(num_key_value_groups=1), q, k, v, mask)
    real = reference_attention(q[1:, :, 5:], k[1:, :, 5:], v[1:, :, 5:], [3])
    assert torch.allclose(out[1, 5:], real[0].transpose(0, 1), atol=1e-6)
    assert torch.allclose(out[0], reference_attention(q[:1], k[:1], v[:1], [8])[0].transpose(0, 1), atol=1e-6)


def test_no_mask_is_built_without_padding_or_cache():
    build = ALL_MASK_ATTENTION_FUNCTIONS[SEGMENTS]
    assert build(batch_size=1, q_length=8, kv_length=8, attention_mask=None) is None
    cached = build(batch_size=1, q_length=1, kv_length=8, q_offset=7, attention_mask=torch.ones(1, 8).bool(),
                   allow_is_causal_skip=False)
    assert cached.shape == (1, 1, 1, 8) and cached.all()

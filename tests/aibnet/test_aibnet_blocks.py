"""AIBNet blocks against the spec's numbers (§2–§4, §7) and independent references: SFEM with
α = 0 is ordinary softmax channel attention, an HFSBlock with one all-keeping mask is dense
channel attention, the Decoupler is a normalised low-pass filter; gradchecks in float64."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from restorekit import ConfigError, InputError
from restorekit.plugins.aibnet.blocks import (
    SFEM,
    HFSBlock,
    HighFrequencyDecoupler,
    SFDHBlock,
    alpha_init,
    head_layout,
    mask_sizes,
)

F64 = torch.float64


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _randomise(m: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return m


# -- cardinality (spec §7) ---------------------------------------------------------------------

@pytest.mark.parametrize("c, n", [(64, 60_354), (128, 226_947), (256, 879_621), (512, 3_462_921)])
def test_sfdh_parameter_count(c: int, n: int) -> None:
    with torch.device("meta"):
        block = SFDHBlock(c)
    h, d = head_layout(c)
    assert _count(block) == n == 13 * c * c + 107 * c + h + 4 * d + 1


@pytest.mark.parametrize("c, n", [(64, 19_157), (128, 62_742), (256, 223_640), (512, 840_348)])
def test_hfs_parameter_count(c: int, n: int) -> None:
    with torch.device("meta"):
        block = HFSBlock(c)
    assert _count(block) == n == 3 * c * c + 105 * c + 148 + head_layout(c)[0]


def test_ablation_block_counts() -> None:
    assert _count(SFDHBlock(64, sfem=False)) == 7 * 64 * 64 + 51 * 64
    assert _count(HFSBlock(64, num_masks=2)) == 19_157 - 2


def test_heads_of_64_channels() -> None:
    assert [head_layout(c) for c in (64, 128, 256, 512)] == [(1, 64), (2, 64), (4, 64), (8, 64)]
    assert head_layout(16) == (1, 16)
    with pytest.raises(ConfigError, match="heads"):
        head_layout(200)  # 3 heads do not divide 200 channels


# -- α re-parameterisation (eq. 3) -----------------------------------------------------------

def test_alpha_init_schedule() -> None:
    assert [round(alpha_init(l), 4) for l in range(1, 9)] == [0.2, 0.3555, 0.4707, 0.5561, 0.6193, 0.6661, 0.7008, 0.7265]
    with pytest.raises(ConfigError):
        alpha_init(0)


def test_alpha_formula_and_init() -> None:
    torch.manual_seed(0)
    sfem = SFEM(64, index=3)
    vecs = torch.stack([sfem.alpha_q1, sfem.alpha_k1, sfem.alpha_q2, sfem.alpha_k2]).detach()
    assert vecs.shape == (4, 64) and 0.07 < float(vecs.std()) < 0.13  # N(0, 0.1)
    with torch.no_grad():
        expected = math.exp(float(sfem.alpha_q1 @ sfem.alpha_k1)) - math.exp(float(sfem.alpha_q2 @ sfem.alpha_k2)) + alpha_init(3)
    assert float(sfem.alpha().detach()) == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(sfem.temperature, torch.full((1, 1, 1, 1), 8.0))  # √64


def _plain_channel_attention(x, qkv_w, qkv_b, dw_w, dw_b, proj_w, proj_b, temperature, heads, chunks, pick):
    """softmax(Q̂K̂ᵀ/β)V per head with plain ops (Restormer MDTA without its temperature form)."""
    b, c, h, w = x.shape
    y = F.conv2d(F.conv2d(x, qkv_w, qkv_b), dw_w, dw_b, padding=1, groups=chunks * c)
    parts = y.chunk(chunks, dim=1)
    q, k, v = (parts[i].reshape(b, heads, c // heads, h * w) for i in pick)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = k / k.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    att = torch.softmax(torch.einsum("bhip,bhjp->bhij", q, k) / temperature, dim=-1)
    out = torch.einsum("bhij,bhjp->bhip", att, v).reshape(b, c, h, w)
    return out if proj_w is None else F.conv2d(out, proj_w, proj_b)


def test_sfem_with_alpha_zero_is_softmax_channel_attention() -> None:
    sfem = _randomise(SFEM(16, index=2, head_channels=8), seed=1).double()
    with torch.no_grad():
        for v in (sfem.alpha_q1, sfem.alpha_k1, sfem.alpha_q2, sfem.alpha_k2):
            v.zero_()
    sfem.alpha_init = 0.0  # exp(0) − exp(0) + 0 = 0
    assert float(sfem.alpha().detach()) == 0.0
    x = torch.randn(2, 16, 6, 5, dtype=F64, generator=torch.Generator().manual_seed(2))
    ref = _plain_channel_attention(
        x, sfem.qkv.weight, sfem.qkv.bias, sfem.qkv_dw.weight, sfem.qkv_dw.bias, sfem.proj.weight, sfem.proj.bias,
        sfem.temperature, heads=2, chunks=5, pick=(0, 1, 4),
    )
    torch.testing.assert_close(sfem(x), ref, rtol=1e-10, atol=1e-12)
    # and with α ≠ 0 the second map is subtracted (not vacuous)
    sfem.alpha_init = 0.5
    assert (sfem(x) - ref).abs().max() > 1e-3


def test_sfem_differential_formula() -> None:
    sfem = _randomise(SFEM(8, index=4, head_channels=8), seed=3).double()
    x = torch.randn(1, 8, 4, 4, dtype=F64)
    att1, att2, v = sfem.attention(x)
    out = (att1 - sfem.alpha() * att2) @ v
    torch.testing.assert_close(sfem(x), sfem.proj(out.reshape(1, 8, 4, 4)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(att1.sum(-1), torch.ones(1, 1, 8, dtype=F64))


# -- HFSBlock (eqs. 4–5) -----------------------------------------------------------------------

def test_mask_sizes() -> None:
    assert mask_sizes(64) == [32, 42, 48, 51]
    assert mask_sizes(64, 1) == [32]
    assert mask_sizes(64, 1, [1.0]) == [64]
    with pytest.raises(ConfigError, match="one ratio per mask"):
        mask_sizes(64, 2, [0.5])
    with pytest.raises(ConfigError, match="num_masks"):
        mask_sizes(64, 0)
    with pytest.raises(ConfigError, match="ratio"):
        mask_sizes(4, 1, [0.1])


def test_masked_rows_have_exactly_k_nonzeros_and_sum_to_one() -> None:
    block = HFSBlock(64).double()
    scores = torch.randn(2, 1, 64, 64, dtype=F64, generator=torch.Generator().manual_seed(0))
    masks = block.masked_attentions(scores)
    assert len(masks) == 4
    for m, k in zip(masks, [32, 42, 48, 51]):
        assert ((m > 0).sum(-1) == k).all()
        torch.testing.assert_close(m.sum(-1), torch.ones(2, 1, 64, dtype=F64), rtol=0, atol=1e-12)
        # the kept entries are the row's k largest logits
        kept_min = scores.masked_fill(m == 0, float("inf")).amin(-1)
        dropped_max = scores.masked_fill(m > 0, float("-inf")).amax(-1)
        assert (kept_min > dropped_max).all()


def test_hfs_with_one_all_keeping_mask_is_dense_channel_attention() -> None:
    block = _randomise(HFSBlock(16, num_masks=1, mask_ratios=[1.0], head_channels=8), seed=4).double().eval()
    x = torch.randn(2, 16, 6, 7, dtype=F64, generator=torch.Generator().manual_seed(5))
    xh = block.decoupler(x)
    dense = _plain_channel_attention(
        xh, block.qkv.weight, block.qkv.bias, block.qkv_dw.weight, block.qkv_dw.bias, None, None,
        block.temperature, heads=2, chunks=3, pick=(0, 1, 2),
    )
    torch.testing.assert_close(block(x), x + block.mask_weights[0] * dense, rtol=1e-10, atol=1e-12)


def test_hfs_sum_of_masked_attentions() -> None:
    block = _randomise(HFSBlock(8, head_channels=8), seed=6).double().eval()
    x = torch.randn(1, 8, 5, 5, dtype=F64)
    s, v = block.scores(block.decoupler(x))
    expected = x + sum(lam * (m @ v) for lam, m in zip(block.mask_weights, block.masked_attentions(s))).reshape(1, 8, 5, 5)
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(HFSBlock(8).mask_weights.detach(), torch.full((4,), 0.2))  # λ_i init


# -- Decoupler -----------------------------------------------------------------------------------

def test_decoupler_kernels_are_normalised_low_pass() -> None:
    dec = _randomise(HighFrequencyDecoupler(16), seed=7).double().eval()
    x = torch.randn(3, 16, 9, 9, dtype=F64)
    k = dec.kernels(x)
    assert k.shape == (3, 8, 3, 3)
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum(dim=(-2, -1)), torch.ones(3, 8, dtype=F64))


def test_decoupler_removes_constants() -> None:
    dec = _randomise(HighFrequencyDecoupler(16), seed=8).double().eval()
    x = torch.full((2, 16, 8, 8), 0.7, dtype=F64) + torch.arange(16, dtype=F64).view(1, 16, 1, 1)
    xh = dec(x)
    assert xh[..., 1:-1, 1:-1].abs().max() < 1e-12
    assert xh.abs().max() < 1e-12  # reflect padding keeps a constant constant at the border too


def test_decoupler_matches_fsnet_unfold() -> None:
    """FSNet's dynamic_filter: unfold the reflect-padded input, weight the k² taps per group."""
    dec = _randomise(HighFrequencyDecoupler(16), seed=9).double().eval()
    x = torch.randn(2, 16, 6, 7, dtype=F64)
    n, c, h, w = x.shape
    filt = dec.bn(dec.conv(x.mean(dim=(2, 3), keepdim=True)))  # (n, 72, 1, 1)
    filt = torch.softmax(filt.reshape(n, 8, 9, 1).unsqueeze(2), dim=-2)  # (n, G, 1, k², 1)
    cols = F.unfold(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel_size=3).reshape(n, 8, c // 8, 9, h * w)
    low = (cols * filt).sum(dim=3).reshape(n, c, h, w)
    torch.testing.assert_close(dec(x), x - low, rtol=1e-12, atol=1e-12)


def test_decoupler_bad_options_and_batch_one_in_training() -> None:
    with pytest.raises(ConfigError, match="decoupler_groups"):
        HighFrequencyDecoupler(12)
    with pytest.raises(ConfigError, match="odd"):
        HighFrequencyDecoupler(16, kernel_size=2)
    dec = HighFrequencyDecoupler(16).train()
    with pytest.raises(InputError, match="batch of at least 2"):
        dec(torch.rand(1, 16, 4, 4))


# -- SFDHBlock (eq. 1) -------------------------------------------------------------------------

def test_sfdh_equation_one() -> None:
    block = _randomise(SFDHBlock(8, index=2, head_channels=8), seed=10).double()
    x = torch.randn(2, 8, 5, 6, dtype=F64)
    n = block.norm1(x)
    y = x + block.sca_branch(n) + block.sfem_weight * block.sfem(n)
    torch.testing.assert_close(block(x), y + block.feed_forward(block.norm2(y)), rtol=1e-12, atol=1e-12)
    assert block.sfem.alpha_init == pytest.approx(alpha_init(2))
    assert float(SFDHBlock(8).sfem_weight.detach()) == 1.0


# -- gradcheck -----------------------------------------------------------------------------------

def test_gradcheck_sfdh() -> None:
    block = _randomise(SFDHBlock(8, index=1, head_channels=4), seed=11).double()
    x = torch.randn(1, 8, 4, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-6)


def test_gradcheck_hfs_without_ties() -> None:
    """Top-k masking is piecewise smooth; with random float64 inputs no two logits of a row
    are within the finite-difference step, so the selected sets do not change."""
    block = _randomise(HFSBlock(8, head_channels=8), seed=12).double().eval()
    x = torch.randn(1, 8, 5, 5, dtype=F64, generator=torch.Generator().manual_seed(13), requires_grad=True)
    s, _ = block.scores(block.decoupler(x))
    gaps = s.sort(dim=-1).values.diff(dim=-1)
    assert gaps.min() > 1e-5  # no near-ties: the mask is locally constant
    assert torch.autograd.gradcheck(block, (x,), eps=1e-7, atol=1e-6)

"""The DRAMBlock and its parts (spec §3.2): the smoothing filter, the Haar wavelet expert, the
mixer, the blur-guided attention, eq. (2), the exact reduction to FCNAFBlock, early exit."""

from __future__ import annotations

import pytest
import torch

from restorekit.layers import FCNAFBlock
from restorekit.plugins.dramnet.blocks import (
    BlurGatedMixer,
    BlurGuidedAttention,
    DRAMBlock,
    WaveletExpert,
    binomial_smooth,
    blur_at,
)


def _randomise(module: torch.nn.Module, seed: int = 0, skip: tuple[str, ...] = ()) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not any(name.startswith(s) for s in skip):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def test_binomial_smoothing_matches_closed_form() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 6, 7, generator=gen, dtype=torch.float64)
    p = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    w = [1.0, 2.0, 1.0]
    expect = sum(w[i] * w[j] * p[..., i : i + 6, j : j + 7] for i in range(3) for j in range(3)) / 16.0
    torch.testing.assert_close(binomial_smooth(x), expect, rtol=0, atol=1e-15)
    assert torch.allclose(binomial_smooth(torch.ones(1, 1, 4, 4)), torch.ones(1, 1, 4, 4))  # weights sum to 1


def test_blur_at_clamps_and_resizes() -> None:
    m = torch.rand(2, 1, 4, 4)
    out = blur_at(m, (32, 32))
    assert out.shape == (2, 1, 32, 32) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(blur_at(torch.zeros(1, 1, 2, 2), (8, 8)), torch.zeros(1, 1, 8, 8))


def test_wavelet_expert_with_identity_mix_and_zero_map_is_identity() -> None:
    """IDWT∘DWT = I, so with Z = identity 1×1 conv and B̃ = 0 the expert returns its input."""
    expert = WaveletExpert(3).double()
    with torch.no_grad():
        expert.mix.weight.copy_(torch.eye(12, dtype=torch.float64)[:, :, None, None])
        expert.mix.bias.zero_()
    x = torch.randn(2, 3, 8, 10, dtype=torch.float64)
    torch.testing.assert_close(expert(x, torch.zeros(2, 1, 8, 10, dtype=torch.float64)), x, rtol=0, atol=1e-12)
    # and a blur of 1 doubles the high bands: out − LL-part = 2·(x − LL-part)
    from restorekit.layers import haar_dwt2, haar_idwt2

    ll, lh, hl, hh = haar_dwt2(x)
    low = haar_idwt2(ll, torch.zeros_like(lh), torch.zeros_like(hl), torch.zeros_like(hh))
    out = expert(x, torch.ones(2, 1, 8, 10, dtype=torch.float64))
    torch.testing.assert_close(out - low, 2 * (x - low), rtol=0, atol=1e-12)


def test_mixer_weights_sum_to_one_and_count() -> None:
    mixer = BlurGatedMixer()
    assert sum(p.numel() for p in mixer.parameters()) == 66
    _randomise(mixer)
    with torch.no_grad():
        w = mixer(torch.rand(3, 1, 9, 9))
    assert w.shape == (3, 2, 9, 9) and float(w.min()) >= 0
    assert float((w.sum(dim=1) - 1).abs().max()) < 1e-6


def test_attention_matches_explicit_per_head_formula() -> None:
    c, heads = 8, 2
    att = BlurGuidedAttention(c, heads).double()
    _randomise(att)
    x = torch.randn(2, c, 5, 6, dtype=torch.float64)
    b = torch.rand(2, 1, 5, 6, dtype=torch.float64)
    q = att.q(att.norm(x)).flatten(2)
    k = att.k.weight.flatten()[None, :, None] * b.flatten(2)
    v = att.v.weight.flatten()[None, :, None] * b.flatten(2)
    d = c // heads
    outs = []
    for h in range(heads):
        qh, kh, vh = (t[:, h * d : (h + 1) * d] for t in (q, k, v))
        qh = qh / qh.norm(dim=-1, keepdim=True)
        kh = kh / kh.norm(dim=-1, keepdim=True)
        a = torch.softmax(att.temperature[h] * qh @ kh.transpose(1, 2), dim=-1)
        outs.append(a @ vh)
    expect = att.proj(torch.cat(outs, dim=1).reshape(2, c, 5, 6))
    torch.testing.assert_close(att(x, b), expect, rtol=1e-10, atol=1e-12)
    assert sum(p.numel() for p in att.parameters()) == 2 * c * c + 5 * c + heads


@pytest.mark.parametrize("c", [64, 128])
def test_extra_parameters_over_fcnaf(c: int) -> None:
    with torch.device("meta"):
        extra = sum(p.numel() for p in DRAMBlock(c, c // 64).parameters()) - sum(p.numel() for p in FCNAFBlock(c).parameters())
    h = c // 64
    assert extra == 16 * c * c + 4 * c + 66 + 2 * c * c + 5 * c + h


def test_w1_one_and_zero_map_equals_fcnaf_exactly() -> None:
    block = DRAMBlock(8, 2)
    _randomise(block, skip=("attention.proj.bias",))  # the attention's output bias starts at 0
    fcnaf = FCNAFBlock(8)
    fcnaf.load_state_dict(block.fcnaf.state_dict())
    x = torch.randn(2, 8, 8, 8)
    zero = torch.zeros(2, 1, 8, 8)
    assert torch.equal(block(x, zero, force_fourier=True), fcnaf(x))
    # a zero map also drives the attention to exactly 0 without forcing w1
    assert torch.equal(block.attention(x, zero), torch.zeros_like(x))
    # and with a non-zero map the block is not the FCNAF block
    assert (block(x, torch.rand(2, 1, 8, 8)) - fcnaf(x)).abs().max() > 1e-3


def test_block_equals_eq2() -> None:
    """F_out = F_rev + w1·F_FFT + w2·F_WAV + F_att (the form the code evaluates differs in order)."""
    block = DRAMBlock(8, 1).double()
    _randomise(block)
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    b = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    w = block.mixer(b)
    f_fft = block.fcnaf(x) - x
    expect = x + w[:, :1] * f_fft + w[:, 1:] * block.wavelet(x, b) + block.attention(x, b)
    torch.testing.assert_close(block(x, b), expect, rtol=1e-12, atol=1e-12)


def test_early_exit_is_per_sample_and_exact() -> None:
    block = DRAMBlock(8, 1)
    _randomise(block)
    x = torch.randn(3, 8, 6, 6)
    b = torch.rand(3, 1, 6, 6)
    full = block(x, b)
    fc = block.fcnaf(x)
    mask = torch.tensor([True, False, True])
    out = block(x, b, exit_mask=mask)
    assert torch.equal(out[0], fc[0]) and torch.equal(out[2], fc[2])
    torch.testing.assert_close(out[1], full[1], rtol=1e-6, atol=1e-6)
    assert torch.equal(block(x, b, exit_mask=torch.ones(3, dtype=torch.bool)), fc)
    assert torch.equal(block(x, None), fc)
    plain = DRAMBlock(8, 1, blur_guided=False)
    assert not hasattr(plain, "wavelet")


def test_dramblock_gradcheck() -> None:
    block = DRAMBlock(4, 1).double()
    _randomise(block)
    x = torch.randn(1, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    b = (0.2 + 0.6 * torch.rand(1, 1, 4, 4, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, m: block(a, m), (x, b), eps=1e-6, atol=1e-5)

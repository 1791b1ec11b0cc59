"""restorekit.layers against independent references: exact parameter counts from the specs,
closed forms written out here with plain tensor ops, explicit Haar filters, numpy FFTs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from restorekit.layers import (
    FCNAFBlock,
    FourierUnit,
    HaarDWT,
    HaarIDWT,
    LayerNorm2d,
    NAFBlock,
    PixelShuffleUpsample,
    SimpleGate,
    SimplifiedChannelAttention,
    StridedConvDownsample,
    check_image,
    haar_dwt2,
    haar_idwt2,
)
from restorekit import InputError

F64 = torch.float64


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _randomise(m: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return m


# -- parameter counts (specs/dramnet.md §3.3, specs/aibnet.md §1) --------------------------------

@pytest.mark.parametrize("c, n", [(64, 30_784), (128, 118_912), (256, 467_200), (512, 1_851_904)])
def test_nafblock_parameter_count(c: int, n: int) -> None:
    assert _count(NAFBlock(c)) == n


@pytest.mark.parametrize("c, n", [(64, 162_624), (128, 644_736), (256, 2_567_424), (512, 10_246_656)])
def test_fcnafblock_parameter_count(c: int, n: int) -> None:
    assert _count(FCNAFBlock(c)) == n


def test_fourier_unit_parameter_count() -> None:
    for c in (4, 64):
        assert _count(FourierUnit(c)) == 16 * c * c + 6 * c


def test_nafblock_state_dict_keys_are_nafnets() -> None:
    keys = set(NAFBlock(8).state_dict())
    expected = {f"{n}.{t}" for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "sca.1") for t in ("weight", "bias")}
    expected |= {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "beta", "gamma"}
    assert keys == expected


# -- closed forms ------------------------------------------------------------------------------

def _ln_ref(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    mu = x.mean(dim=1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)


def test_layernorm2d_matches_closed_form() -> None:
    ln = _randomise(LayerNorm2d(5, eps=1e-5)).double()
    x = torch.randn(2, 5, 4, 3, dtype=F64)
    assert torch.allclose(ln(x), _ln_ref(x, ln.weight, ln.bias, 1e-5), atol=1e-12)


def test_simple_gate_and_sca() -> None:
    x = torch.randn(2, 6, 3, 3, dtype=F64)
    assert torch.equal(SimpleGate()(x), x[:, :3] * x[:, 3:])
    with pytest.raises(ValueError, match="even"):
        SimpleGate()(x[:, :5])
    sca = _randomise(SimplifiedChannelAttention(6)).double()
    conv = sca[1]
    att = torch.einsum("oc,bc->bo", conv.weight[:, :, 0, 0], x.mean(dim=(2, 3))) + conv.bias
    assert torch.allclose(sca(x), x * att[:, :, None, None], atol=1e-12)


def _nafblock_ref(m: NAFBlock, inp: torch.Tensor, fft: bool = False) -> torch.Tensor:
    """The official NAFBlock forward written with functional ops on the module's weights."""
    c = inp.shape[1]

    def conv(x, layer, groups=1, pad=0):
        return F.conv2d(x, layer.weight, layer.bias, padding=pad, groups=groups)

    def fu(x, u):
        z = torch.from_numpy(np.fft.rfft2(x.detach().numpy(), axes=(-2, -1)))
        zz = torch.cat([z.real, z.imag], dim=1)
        zz = conv(F.gelu(conv(zz, u.conv1)), u.conv2)
        re, im = zz.chunk(2, dim=1)
        return torch.from_numpy(np.fft.irfft2((re + 1j * im).numpy(), s=x.shape[-2:], axes=(-2, -1)))

    x = _ln_ref(inp, m.norm1.weight, m.norm1.bias, 1e-6)
    xn = x
    x = conv(conv(x, m.conv1), m.conv2, groups=2 * c, pad=1)
    x = x[:, :c] * x[:, c:]
    x = x * conv(x.mean(dim=(2, 3), keepdim=True), m.sca[1])
    x = conv(x, m.conv3)
    if fft:
        x = x + fu(xn, m.fft1)
    y = inp + x * m.beta
    z = _ln_ref(y, m.norm2.weight, m.norm2.bias, 1e-6)
    x = conv(z, m.conv4)
    x = conv(x[:, :c] * x[:, c:], m.conv5)
    if fft:
        x = x + fu(z, m.fft2)
    return y + x * m.gamma


def test_nafblock_matches_reference_forward() -> None:
    m = _randomise(NAFBlock(4)).double()
    x = torch.randn(2, 4, 6, 5, dtype=F64)
    assert torch.allclose(m(x), _nafblock_ref(m, x), atol=1e-10)


def test_new_nafblock_is_identity() -> None:
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(NAFBlock(8)(x), x)
    assert torch.equal(FCNAFBlock(8)(x), x)


def test_fcnafblock_matches_reference_forward_with_numpy_fft() -> None:
    m = _randomise(FCNAFBlock(4), seed=1).double()
    with torch.no_grad():
        x = torch.randn(2, 4, 6, 7, dtype=F64)  # odd width: irfft2 must be told the size
        assert torch.allclose(m(x), _nafblock_ref(m, x, fft=True), atol=1e-9)


def test_fourier_unit_runs_in_float32_under_autocast() -> None:
    u = FourierUnit(4)
    x = torch.randn(1, 4, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = u(x)
    assert y.dtype == torch.float32 and y.shape == x.shape


# -- Haar --------------------------------------------------------------------------------------

def test_haar_matches_explicit_filters() -> None:
    x = torch.randn(2, 3, 6, 8, dtype=F64)
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    expected = [(a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2]
    for got, want in zip(haar_dwt2(x), expected):
        assert torch.allclose(got, want, atol=1e-12)


def test_haar_inverse_and_adjoint() -> None:
    x = torch.randn(2, 3, 8, 6, dtype=F64)
    assert (haar_idwt2(*haar_dwt2(x)) - x).abs().max() < 1e-12
    z = HaarDWT()(x)
    assert z.shape == (2, 12, 4, 3)
    assert (HaarIDWT()(z) - x).abs().max() < 1e-12
    v = torch.randn_like(z)
    assert abs(float((z * v).sum() - (x * HaarIDWT()(v)).sum())) < 1e-10  # orthonormal: IDWT = DWTᵀ
    with pytest.raises(ValueError, match="even"):
        haar_dwt2(x[..., :5])


# -- sampling ----------------------------------------------------------------------------------

def test_pixel_shuffle_upsample_matches_rearrange() -> None:
    up = _randomise(PixelShuffleUpsample(4)).double()
    x = torch.randn(1, 4, 3, 5, dtype=F64)
    y = F.conv2d(x, up[0].weight)  # (1, 8, 3, 5)
    ref = y.reshape(1, 2, 2, 2, 3, 5).permute(0, 1, 4, 2, 5, 3).reshape(1, 2, 6, 10)
    assert torch.allclose(up(x), ref, atol=1e-12)
    assert set(up.state_dict()) == {"0.weight"}


def test_strided_downsample() -> None:
    down = StridedConvDownsample(4)
    assert down(torch.randn(1, 4, 8, 6)).shape == (1, 8, 4, 3)
    normed = StridedConvDownsample(8, 4, norm_eps=1e-5)
    assert normed(torch.randn(1, 8, 8, 6)).shape == (1, 4, 4, 3) and normed.norm.eps == 1e-5
    assert _count(StridedConvDownsample(128, 64, norm_eps=1e-5)) == 4 * 128 * 64 + 64 + 128  # AdaRevD down: 33,152 at L2


# -- gradcheck ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: NAFBlock(2), lambda: FCNAFBlock(2), lambda: LayerNorm2d(2), lambda: FourierUnit(2)])
def test_gradcheck(make) -> None:
    m = _randomise(make()).double()
    x = torch.randn(1, 2, 4, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,), fast_mode=True)
    z = torch.randn(1, 2, 4, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: HaarIDWT()(HaarDWT()(t)), (z,), fast_mode=True)


def test_check_image_messages() -> None:
    with pytest.raises(InputError, match="in_channels"):
        check_image(torch.rand(1, 1, 8, 8), 3, 1, "x")
    with pytest.raises(InputError, match="divisible by 4"):
        check_image(torch.rand(1, 3, 6, 8), 3, 4, "x")
    with pytest.raises(InputError, match="floating point"):
        check_image(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 3, 1, "x")


def test_haar_in_half_precision_round_trips_in_float32() -> None:
    x = torch.randn(1, 2, 8, 8).bfloat16()
    bands = haar_dwt2(x)
    assert all(b.dtype == torch.bfloat16 for b in bands)
    ref = haar_dwt2(x.float())
    assert torch.allclose(bands[1].float(), ref[1], atol=1e-2)
    assert haar_idwt2(*bands).dtype == torch.bfloat16


def test_check_image_without_a_channel_option() -> None:
    with pytest.raises(InputError, match="convert the image to 3 channel"):
        check_image(torch.rand(1, 1, 8, 8), 3, 1, "x", channel_option=None)

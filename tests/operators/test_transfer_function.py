"""Operator.transfer_function for circular convolution (and its absence elsewhere), the
two-sided psf2otf, the OTF cache of the FFT path and the shifted path for tiny kernels.

References: numpy FFTs of impulse responses built with scipy.ndimage, autograd's
gradcheck, and uncached / grouped-convolution computations.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

import restorekit
from restorekit.functional import SHIFT_MAX_TAPS, clear_otf_cache, conv2d, conv2d_adjoint, psf2otf
from restorekit.functional import convolution as conv_mod


def _impulse_response(k: np.ndarray, shape: tuple[int, int], correlation: bool = False) -> np.ndarray:
    e = np.zeros(shape)
    e[0, 0] = 1.0
    return (ndi.correlate if correlation else ndi.convolve)(e, k, mode="wrap")


@pytest.mark.parametrize("ksize", [(3, 3), (4, 6), (5, 2)])
@pytest.mark.parametrize("correlation", [False, True])
def test_circular_convolution_transfer_function(ksize, correlation: bool) -> None:
    rng = np.random.default_rng(0)
    k = rng.random(ksize)
    shape = (9, 12)
    op = restorekit.create("standard.convolution", boundary="circular", correlation=correlation)
    kt = torch.from_numpy(k)[None, None]
    tf = op.transfer_function(shape, kernel=kt)
    assert tf.shape == (1, 1, 9, 7) and tf.is_complex()
    ref = np.fft.fft2(_impulse_response(k, shape, correlation))
    np.testing.assert_allclose(tf[0, 0].numpy(), ref[:, :7], atol=1e-12)
    full = op.transfer_function(shape, onesided=False, kernel=kt)
    np.testing.assert_allclose(full[0, 0].numpy(), ref, atol=1e-12)
    # A x = irfft2(K · rfft2(x)), Aᵀ y = irfft2(conj(K) · rfft2(y)), through the bound operator
    bound = op.bind(kernel=kt)
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    Ax = torch.fft.irfft2(bound.transfer_function(shape) * torch.fft.rfft2(x), s=shape)
    np.testing.assert_allclose(Ax.numpy(), bound.A(x).numpy(), atol=1e-12)
    Aty = torch.fft.irfft2(bound.transfer_function(shape).conj() * torch.fft.rfft2(x), s=shape)
    np.testing.assert_allclose(Aty.numpy(), bound.A_adjoint(x).numpy(), atol=1e-12)


@pytest.mark.parametrize("boundary", ["valid", "zeros", "reflect", "symmetric", "replicate"])
def test_only_circular_convolution_is_diagonalisable(boundary: str) -> None:
    op = restorekit.create("standard.convolution", boundary=boundary)
    assert op.transfer_function((8, 8), kernel=torch.ones(1, 1, 3, 3) / 9) is None
    pc = restorekit.create("standard.convolution", boundary="circular")
    filters, mult = torch.rand(1, 1, 2, 3, 3), torch.rand(1, 1, 2, 8, 8)
    assert pc.transfer_function((8, 8), filters=filters, multipliers=mult) is None  # product-convolution


@pytest.mark.parametrize("convolution", [False, True])
def test_spatially_variant_filter_transfer_function_only_for_uniform_circular_taps(convolution: bool) -> None:
    rng = np.random.default_rng(1)
    H, W, s = 7, 8, 3
    taps = torch.from_numpy(rng.random(s * s))
    uniform = taps[None, None, :, None, None].expand(1, 1, s * s, H, W).contiguous()
    op = restorekit.create("standard.spatially_variant_filter", boundary="circular", convolution=convolution)
    tf = op.transfer_function((H, W), filters=uniform)
    x = torch.randn(1, 2, H, W, dtype=torch.float64)
    ref = op.A(x, filters=uniform)
    np.testing.assert_allclose(torch.fft.irfft2(tf * torch.fft.rfft2(x), s=(H, W)).numpy(), ref.numpy(), atol=1e-12)
    varying = uniform.clone()
    varying[..., 2, 3] += 0.1
    assert op.transfer_function((H, W), filters=varying) is None
    assert restorekit.create("standard.spatially_variant_filter").transfer_function((H, W), filters=uniform) is None


def test_operators_declare_channelwise() -> None:
    assert restorekit.create("standard.convolution").channelwise
    assert restorekit.create("standard.spatially_variant_filter").channelwise
    assert not getattr(restorekit.create("nrknet.rkr", form="reference", num_kernels=2), "channelwise", False)


def test_psf2otf_two_sided_matches_numpy() -> None:
    k = torch.rand(1, 1, 4, 5, dtype=torch.float64)
    full = psf2otf(k, (10, 11), onesided=False)
    ref = np.fft.fft2(np.roll(np.pad(k[0, 0].numpy(), ((0, 6), (0, 6))), (-2, -2), axis=(0, 1)))
    np.testing.assert_allclose(full[0, 0].numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(psf2otf(k, (10, 11))[0, 0].numpy(), ref[:, :6], atol=1e-12)


def test_otf_cache_is_exact_invalidated_in_place_and_skips_grad_kernels() -> None:
    clear_otf_cache()
    x = torch.randn(1, 3, 20, 22, dtype=torch.float64)
    k = torch.rand(1, 1, 7, 7, dtype=torch.float64)
    a = conv2d(x, k, "circular", method="fft")
    assert len(conv_mod._OTF_CACHE) == 1
    b = conv2d(x, k, "circular", method="fft")  # cached
    assert torch.equal(a, b)
    np.testing.assert_allclose(a[0, 0].numpy(), ndi.convolve(x[0, 0].numpy(), k[0, 0].numpy(), mode="wrap"), atol=1e-12)
    k.mul_(2.0)  # in place: the version counter changes, the entry is not reused
    c = conv2d(x, k, "circular", method="fft")
    np.testing.assert_allclose(c.numpy(), 2.0 * a.numpy(), atol=1e-12)
    # valid boundary (fast FFT size) and the adjoint share the cache
    y = conv2d(x, k, "valid", method="fft")
    np.testing.assert_allclose(conv2d_adjoint(y, k, "valid", method="fft").numpy(),
                               conv2d_adjoint(y, k, "valid", method="spatial").numpy(), atol=1e-10)
    del k
    import gc

    gc.collect()
    assert len(conv_mod._OTF_CACHE) == 0  # entries die with their kernel
    # a kernel that requires grad is never cached, and its gradient is right
    kg = torch.rand(1, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    xs = torch.randn(1, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda xx, kk: conv2d(xx, kk, "circular", method="fft"), (xs, kg))
    assert len(conv_mod._OTF_CACHE) == 0


@pytest.mark.parametrize("ksize", [(1, 2), (2, 1), (3, 3), (2, 2), (1, 3)])
@pytest.mark.parametrize("boundary", ["valid", "circular", "reflect"])
def test_tiny_kernels_take_the_shifted_path_and_match_scipy(ksize, boundary: str) -> None:
    assert ksize[0] * ksize[1] <= SHIFT_MAX_TAPS
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((2, 3, 9, 10)))
    k = torch.from_numpy(rng.standard_normal((2, 1, *ksize)))
    y = conv2d(x, k, boundary, method="spatial")
    for b in range(2):
        for c in range(3):
            if boundary == "valid":
                import scipy.signal

                ref = scipy.signal.convolve2d(x[b, c].numpy(), k[b, 0].numpy(), mode="valid")
            else:
                ref = ndi.convolve(x[b, c].numpy(), k[b, 0].numpy(), mode={"circular": "wrap", "reflect": "mirror"}[boundary])
            np.testing.assert_allclose(y[b, c].numpy(), ref, atol=1e-12)
    v = torch.randn(y.shape, dtype=torch.float64)
    lhs, rhs = (y * v).sum(), (x * conv2d_adjoint(v, k, boundary, method="spatial")).sum()
    assert float((lhs - rhs).abs() / (y.norm() * v.norm())) < 1e-12
    xs = x[:1, :1, :5, :6].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: conv2d(t, k[:1], boundary, method="spatial"), (xs,))

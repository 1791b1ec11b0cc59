"""restorekit.functional.conv2d / conv2d_adjoint against scipy.ndimage and the dot-product test."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal
import torch

from restorekit import InputError
from restorekit.functional import conv2d, conv2d_adjoint, psf2otf

SCIPY_MODE = {"circular": "wrap", "reflect": "mirror", "symmetric": "reflect", "replicate": "nearest", "zeros": "constant"}
SIZES = [(3, 3), (6, 6), (5, 4), (32, 32), (33, 33)]
H, W = 12, 13


def _rand(*shape: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", ["spatial", "fft"])
@pytest.mark.parametrize("correlation", [False, True])
@pytest.mark.parametrize("boundary", list(SCIPY_MODE))
@pytest.mark.parametrize("ksize", SIZES)
def test_matches_scipy_ndimage(ksize, boundary: str, correlation: bool, method: str) -> None:
    x = _rand(2, 2, H, W)
    k = torch.rand(2, 1, *ksize, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = conv2d(x, k, boundary=boundary, correlation=correlation, method=method)
    fn = ndi.correlate if correlation else ndi.convolve
    for b in range(2):
        for c in range(2):
            ref = fn(x[b, c].numpy(), k[b, 0].numpy(), mode=SCIPY_MODE[boundary])
            np.testing.assert_allclose(y[b, c].numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["spatial", "fft"])
@pytest.mark.parametrize("ksize", [(3, 3), (6, 6), (5, 4)])
def test_valid_matches_scipy_signal(ksize, method: str) -> None:
    x = _rand(1, 3, H, W)
    k = torch.rand(1, 3, *ksize, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    y = conv2d(x, k, boundary="valid", method=method)
    yc = conv2d(x, k, boundary="valid", correlation=True, method=method)
    assert y.shape == (1, 3, H - ksize[0] + 1, W - ksize[1] + 1)
    for c in range(3):
        ref = scipy.signal.convolve2d(x[0, c].numpy(), k[0, c].numpy(), mode="valid")
        np.testing.assert_allclose(y[0, c].numpy(), ref, rtol=0, atol=1e-12)
        ref = scipy.signal.correlate2d(x[0, c].numpy(), k[0, c].numpy(), mode="valid")
        np.testing.assert_allclose(yc[0, c].numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ksize", SIZES)
@pytest.mark.parametrize("correlation", [False, True])
def test_circular_spatial_equals_fft(ksize, correlation: bool) -> None:
    x = _rand(2, 3, H, W)
    k = torch.rand(1, 3, *ksize, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    a = conv2d(x, k, "circular", correlation, method="spatial")
    b = conv2d(x, k, "circular", correlation, method="fft")
    assert float((a - b).abs().max()) < 1e-12


@pytest.mark.parametrize("method", ["spatial", "fft"])
@pytest.mark.parametrize("correlation", [False, True])
@pytest.mark.parametrize("boundary", ["circular", "valid", "zeros", "reflect", "symmetric", "replicate"])
@pytest.mark.parametrize("ksize", SIZES)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_adjointness(ksize, boundary: str, correlation: bool, method: str, dtype, tol: float) -> None:
    shape = (2, 2, H, W) if boundary != "valid" else (2, 2, ksize[0] + 3, ksize[1] + 4)
    x = _rand(*shape, dtype=dtype)
    k = torch.rand(2, 2, *ksize, dtype=dtype, generator=torch.Generator().manual_seed(6))
    Ax = conv2d(x, k, boundary, correlation, method)
    y = _rand(*Ax.shape, seed=1, dtype=dtype)
    ATy = conv2d_adjoint(y, k, boundary, correlation, method)
    rel = float(((Ax * y).sum() - (x * ATy).sum()).abs() / (Ax.norm() * y.norm()))
    assert rel < tol


def test_even_kernel_centre_is_h_over_2() -> None:
    # a Dirac at (h//2, w//2) is the identity, for convolution and correlation alike
    x = _rand(1, 1, 9, 10)
    k = torch.zeros(6, 4, dtype=torch.float64)
    k[3, 2] = 1.0
    for corr in (False, True):
        for method in ("spatial", "fft"):
            assert torch.allclose(conv2d(x, k, "zeros", corr, method), x, atol=1e-14)


def test_psf2otf_of_dirac_is_one_and_matches_numpy() -> None:
    k = torch.zeros(5, 5, dtype=torch.float64)
    k[2, 2] = 1
    assert torch.allclose(psf2otf(k, (8, 8)), torch.ones(8, 5, dtype=torch.complex128))
    k = torch.rand(5, 3, dtype=torch.float64)
    big = np.zeros((8, 9))
    big[:5, :3] = k.numpy()
    ref = np.fft.rfft2(np.roll(big, (-2, -1), axis=(0, 1)))
    np.testing.assert_allclose(psf2otf(k, (8, 9)).numpy(), ref, atol=1e-13)


def test_kernel_broadcast_and_float32() -> None:
    x = _rand(2, 3, 8, 8).float()
    k = torch.rand(5, 5)
    y = conv2d(x, k, "reflect", method="spatial")
    assert y.dtype == torch.float32 and y.shape == x.shape
    y2 = conv2d(x, k[None, None].expand(2, 3, 5, 5), "reflect", method="fft")
    assert float((y - y2).abs().max()) < 1e-5


def test_errors_name_the_problem() -> None:
    x = torch.zeros(2, 3, 8, 8)
    with pytest.raises(InputError, match="unknown boundary"):
        conv2d(x, torch.ones(3, 3), boundary="mirror")
    with pytest.raises(InputError, match="channels"):
        conv2d(x, torch.ones(1, 2, 3, 3))
    with pytest.raises(InputError, match="batch"):
        conv2d(x, torch.ones(3, 1, 3, 3))
    with pytest.raises(InputError, match="at least as large"):
        conv2d(x, torch.ones(9, 9), boundary="valid")
    with pytest.raises(InputError, match=r"\(B, C, H, W\)"):
        conv2d(torch.zeros(8, 8), torch.ones(3, 3))
    with pytest.raises(InputError, match="floating-point"):
        conv2d(torch.zeros(1, 1, 8, 8, dtype=torch.int64), torch.ones(3, 3))

"""standard.spatially_variant_filter: conformance in every boundary mode, and equality with
standard.convolution / scipy for identical filters at every pixel."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

import restorekit
from restorekit import ConfigError, InputError
from restorekit.testing import check_operator

SCIPY_MODE = {"zeros": "constant", "reflect": "mirror", "symmetric": "reflect", "replicate": "nearest", "circular": "wrap"}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform_filters(k: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """The same (C, s, s) kernel at every pixel → (1, C, s*s, H, W), tap index u*s + v."""
    C, s, _ = k.shape
    return k.reshape(1, C, s * s, 1, 1).expand(1, C, s * s, H, W).contiguous()


@pytest.mark.parametrize("convolution", [False, True])
@pytest.mark.parametrize("boundary", list(SCIPY_MODE))
def test_conformance(boundary: str, convolution: bool) -> None:
    op = restorekit.create("standard.spatially_variant_filter", boundary=boundary, convolution=convolution)
    f = torch.rand(2, 3, 9, 7, 8, dtype=torch.float64, generator=_gen(0))
    check_operator(op, (2, 3, 7, 8), {"filters": f})


def test_identical_filters_equal_convolution_operator() -> None:
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64, generator=_gen(1))
    k = torch.rand(3, 5, 5, dtype=torch.float64, generator=_gen(2))
    svf = restorekit.create("standard.spatially_variant_filter", boundary="zeros")
    conv = restorekit.create("standard.convolution", boundary="zeros", correlation=True, method="spatial")
    y1 = svf.A(x, filters=_uniform_filters(k, 9, 10))
    y2 = conv.A(x, kernel=k[None])
    assert float((y1 - y2).abs().max()) < 1e-12
    r = torch.randn_like(y1)
    assert float((svf.A_adjoint(r, filters=_uniform_filters(k, 9, 10)) - conv.A_adjoint(r, kernel=k[None])).abs().max()) < 1e-12


@pytest.mark.parametrize("convolution", [False, True])
@pytest.mark.parametrize("boundary", list(SCIPY_MODE))
def test_identical_filters_match_scipy(boundary: str, convolution: bool) -> None:
    x = torch.randn(1, 1, 8, 9, dtype=torch.float64, generator=_gen(3))
    k = torch.rand(1, 3, 3, dtype=torch.float64, generator=_gen(4))
    op = restorekit.create("standard.spatially_variant_filter", boundary=boundary, convolution=convolution)
    y = op.A(x, filters=_uniform_filters(k, 8, 9))
    fn = ndi.convolve if convolution else ndi.correlate
    ref = fn(x[0, 0].numpy(), k[0].numpy(), mode=SCIPY_MODE[boundary])
    np.testing.assert_allclose(y[0, 0].numpy(), ref, atol=1e-12, rtol=0)


def test_per_pixel_filters_gather_with_their_own_taps() -> None:
    # brute force: y(p) = Σ_{u,v} f_p[u*s+v] x(p + (u,v) − c) with zero padding
    x = torch.randn(1, 1, 5, 6, dtype=torch.float64, generator=_gen(5))
    f = torch.randn(1, 1, 9, 5, 6, dtype=torch.float64, generator=_gen(6))
    y = restorekit.create("standard.spatially_variant_filter").A(x, filters=f)
    ref = torch.zeros(5, 6, dtype=torch.float64)
    for i in range(5):
        for j in range(6):
            for u in range(3):
                for v in range(3):
                    a, b = i + u - 1, j + v - 1
                    if 0 <= a < 5 and 0 <= b < 6:
                        ref[i, j] += f[0, 0, u * 3 + v, i, j] * x[0, 0, a, b]
    assert float((y[0, 0] - ref).abs().max()) < 1e-13


def test_errors() -> None:
    with pytest.raises(ConfigError):
        restorekit.create("standard.spatially_variant_filter", boundary="valid")
    op = restorekit.create("standard.spatially_variant_filter")
    x = torch.zeros(1, 1, 6, 6)
    with pytest.raises(InputError, match="needs per-pixel filters"):
        op.A(x)
    with pytest.raises(InputError, match="s odd"):
        op.A(x, filters=torch.zeros(1, 1, 4, 6, 6))
    with pytest.raises(InputError, match="one filter per pixel"):
        op.A(x, filters=torch.zeros(1, 1, 9, 5, 6))
    assert op.requires == frozenset({"filters"}) and op.weighting == "output"

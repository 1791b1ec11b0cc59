"""standard.convolution: conformance (adjointness, linearity, shapes, gradients) in every
mode, product-convolution properties, and option/parameter errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

import restorekit
from restorekit import ConfigError, InputError
from restorekit.testing import check_operator

BOUNDARIES = ["circular", "valid", "zeros", "reflect", "symmetric", "replicate"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("method", ["spatial", "fft"])
@pytest.mark.parametrize("correlation", [False, True])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("ksize", [(3, 3), (6, 6), (32, 32), (33, 33)])
def test_uniform_conformance(ksize, boundary: str, correlation: bool, method: str) -> None:
    op = restorekit.create("standard.convolution", boundary=boundary, method=method, correlation=correlation)
    shape = (2, 2, 10, 11) if boundary != "valid" else (2, 2, ksize[0] + 2, ksize[1] + 3)
    k = torch.rand(2, 1, *ksize, dtype=torch.float64, generator=_gen(0))
    res = check_operator(op, shape, {"kernel": k})
    assert res["adjoint_float64"] < 1e-10 and res["adjoint_float32"] < 1e-4
    assert res["linear_float64"] < 1e-10 and res["linear_float32"] < 1e-4


@pytest.mark.parametrize("weighting", ["input", "output"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", ["spatial", "fft"])
def test_product_convolution_conformance(weighting: str, boundary: str, method: str) -> None:
    op = restorekit.create("standard.convolution", boundary=boundary, weighting=weighting, method=method)
    B, C, K, H, W, h = 2, 3, 4, 10, 9, 5
    Hm, Wm = (H - h + 1, W - h + 1) if (boundary == "valid" and weighting == "output") else (H, W)
    filters = torch.rand(1, C, K, h, h, dtype=torch.float64, generator=_gen(1))
    mult = torch.rand(B, 1, K, Hm, Wm, dtype=torch.float64, generator=_gen(2))
    check_operator(op, (B, C, H, W), {"filters": filters, "multipliers": mult})


@pytest.mark.parametrize("weighting", ["input", "output"])
@pytest.mark.parametrize("boundary", ["circular", "reflect", "zeros"])
def test_product_convolution_k1_w1_is_uniform(weighting: str, boundary: str) -> None:
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, generator=_gen(3))
    k = torch.rand(2, 1, 5, 4, dtype=torch.float64, generator=_gen(4))
    op = restorekit.create("standard.convolution", boundary=boundary, weighting=weighting)
    y_pc = op.A(x, filters=k[:, :, None], multipliers=torch.ones(1, 1, 1, 9, 8, dtype=torch.float64))
    ref = np.stack([[ndi.convolve(x[b, c].numpy(), k[b, 0].numpy(), mode={"circular": "wrap", "reflect": "mirror", "zeros": "constant"}[boundary]) for c in range(3)] for b in range(2)])
    np.testing.assert_allclose(y_pc.numpy(), ref, atol=1e-12, rtol=0)


def _matrix(op, shape, **params) -> torch.Tensor:
    """The explicit matrix of A, column j = A e_j (independent of A_adjoint)."""
    n = shape[-2] * shape[-1]
    basis = torch.eye(n, dtype=torch.float64).reshape(n, 1, *shape[-2:])
    return op.A(basis, **params).reshape(n, -1).T  # (out, in)


@pytest.mark.parametrize("weighting,axis", [("input", 0), ("output", 1)])
def test_product_convolution_flux_and_constants(weighting: str, axis: int) -> None:
    # Σ_k w_k = 1 and Σ h_k = 1: input side → columns sum to 1, output side → rows sum to 1
    K, H, W, h = 3, 7, 8, 3
    filters = torch.rand(1, 1, K, h, h, dtype=torch.float64, generator=_gen(5))
    filters = filters / filters.sum(dim=(-2, -1), keepdim=True)
    mult = torch.rand(1, 1, K, H, W, dtype=torch.float64, generator=_gen(6)) + 0.1
    mult = mult / mult.sum(dim=2, keepdim=True)
    op = restorekit.create("standard.convolution", boundary="circular", weighting=weighting)
    A = _matrix(op, (H, W), filters=filters, multipliers=mult)
    sums = A.sum(dim=axis)
    assert float((sums - 1).abs().max()) < 1e-12
    # and the other side does *not* sum to 1 in general (the test can fail)
    assert float((A.sum(dim=1 - axis) - 1).abs().max()) > 1e-3


def test_out_shape_and_parameters() -> None:
    op = restorekit.create("standard.convolution", boundary="valid")
    k = torch.ones(1, 1, 3, 5)
    assert op.out_shape((2, 3, 10, 10), kernel=k) == (2, 3, 8, 6)
    op.update_parameters(kernel=k / 15)
    assert op.A(torch.ones(1, 1, 6, 6)).shape == (1, 1, 4, 2)
    bound = op.bind_estimate(restorekit.BlurEstimate(kernel=k / 15))
    assert torch.allclose(bound.A(torch.ones(1, 1, 6, 6)), torch.ones(1, 1, 4, 2))
    est = restorekit.BlurEstimate(extras={"filters": k[:, :, None], "multipliers": torch.ones(1, 1, 1, 6, 6)})
    assert set(op.parameters_from(est)) == {"filters", "multipliers"}
    with pytest.raises(ValueError, match="kernel"):
        op.parameters_from(restorekit.BlurEstimate(extras={"filters": k[:, :, None]}))


def test_fft_operator_is_not_amp_safe() -> None:
    assert restorekit.create("standard.convolution", method="fft").amp_safe is False
    assert restorekit.create("standard.convolution", method="spatial").amp_safe is True


def test_errors() -> None:
    with pytest.raises(ConfigError):
        restorekit.create("standard.convolution", boundary="mirror")
    op = restorekit.create("standard.convolution")
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(InputError, match="needs a kernel"):
        op.A(x)
    with pytest.raises(InputError, match="multipliers"):
        op.A(x, filters=torch.ones(1, 1, 2, 3, 3))
    with pytest.raises(InputError, match="not both"):
        op.A(x, kernel=torch.ones(3, 3), filters=torch.ones(1, 1, 2, 3, 3), multipliers=torch.ones(1, 1, 2, 8, 8))
    with pytest.raises(InputError, match="must be"):
        op.A(x, filters=torch.ones(1, 1, 2, 3, 3), multipliers=torch.ones(1, 1, 2, 7, 8))
    with pytest.raises(InputError, match="K=2"):
        op.A(x, filters=torch.ones(1, 1, 2, 3, 3), multipliers=torch.ones(1, 1, 3, 8, 8))


def test_fft_operator_runs_in_float32_under_autocast() -> None:
    x = torch.rand(1, 3, 16, 16, generator=_gen(7))
    k = torch.rand(1, 1, 5, 5, generator=_gen(8))
    op = restorekit.create("standard.convolution", method="fft", boundary="circular")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = op(x.bfloat16(), kernel=k)
    assert y.dtype == torch.float32
    ref = ndi.convolve(x[0, 0].bfloat16().double().numpy(), k[0, 0].double().numpy(), mode="wrap")
    np.testing.assert_allclose(y[0, 0].double().numpy(), ref, atol=1e-5, rtol=0)


def test_yaml_schema_rejects_bad_options() -> None:
    with pytest.raises(ConfigError):
        restorekit.create("standard.convolution", boundry="zeros")
    info = restorekit.component_info("standard.convolution")
    assert info is not None

"""``nrknet.neumann`` against closed forms, with a pointwise test operator D(u; Γ) = Γ_0 ⊙ u,
for which (I − D)^k Y = (1 − Γ_0)^k ⊙ Y exactly."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

import restorekit
from restorekit import BlurEstimate, InputError, Operator
from restorekit.plugins.nrknet.neumann import CrossScaleNeumannDecoder, training_list


class PointwiseOperator(Operator):
    """D(u) = Γ[:, :1] ⊙ u (a diagonal operator; test double)."""

    requires = frozenset({"coefficients"})

    def A(self, x: Tensor, coefficients: Tensor | None = None, **params: Any) -> Tensor:
        return coefficients[:, :1] * x

    def A_adjoint(self, y: Tensor, coefficients: Tensor | None = None, **params: Any) -> Tensor:
        return coefficients[:, :1] * y


def _up(x: Tensor, f: int) -> Tensor:
    return torch.nn.functional.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)


def test_closed_form_eq10_and_partial_sums() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(2, 3, 16, 24, generator=gen, dtype=torch.float64)
    gammas = [torch.rand(2, 4, 16 // 2**t, 24 // 2**t, generator=gen, dtype=torch.float64) for t in range(3)]
    out = CrossScaleNeumannDecoder()(y, None, BlurEstimate(coefficients=gammas), PointwiseOperator())
    ys = [y, y[..., ::2, ::2], y[..., ::4, ::4]]
    q = [1 - g[:, :1] for g in gammas]
    z0 = y + q[0] * ys[0] + _up(q[1] ** 2 * ys[1], 2) + _up(q[2] ** 3 * ys[2], 4)
    torch.testing.assert_close(out.restored, z0, rtol=1e-12, atol=1e-12)
    for t, n in enumerate([1, 2, 3]):
        d = sum(q[t] ** k * ys[t] for k in range(n + 1))
        torch.testing.assert_close(out.intermediates[t], d, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.extras["neumann_terms"][t], q[t] ** n * ys[t], rtol=1e-12, atol=1e-12)


def test_identity_when_gamma_is_zero() -> None:
    """Γ ≡ 0 ⇒ D = 0 ⇒ Z_0 = 4Y (Y + Y + up2(Y_2) + up4(Y_4) for a constant image)."""
    y = torch.full((1, 3, 16, 16), 0.25)
    gammas = [torch.zeros(1, 1, 16 // 2**t, 16 // 2**t) for t in range(3)]
    out = CrossScaleNeumannDecoder()(y, None, BlurEstimate(coefficients=gammas), PointwiseOperator())
    torch.testing.assert_close(out.restored, torch.full_like(y, 1.0))


def test_training_list_shapes_with_rkr_pipeline() -> None:
    pipe = restorekit.load_pipeline(
        {
            "model": {
                "blur_estimator": {"type": "nrknet.coefficients", "widths": [4, 8, 8], "num_kernels": 3},
                "decoder": {"type": "nrknet.neumann"},
                "operator": {"type": "nrknet.rkr", "num_kernels": 3},
            }
        }
    )
    x = torch.rand(2, 3, 32, 48)
    out = pipe({"blurry": x})
    assert out.restored.shape == x.shape
    shapes = [tuple(t.shape[-2:]) for t in training_list(out.decoder)]
    assert shapes == [(8, 12), (16, 24), (32, 48), (32, 48)]
    assert pipe.size_multiple == 16


def test_errors_name_the_fix() -> None:
    y = torch.rand(1, 3, 16, 16)
    dec = CrossScaleNeumannDecoder()
    with pytest.raises(InputError, match="operator"):
        dec(y, None, BlurEstimate(coefficients=[y] * 3), None)
    with pytest.raises(InputError, match="num_scales"):
        dec(y, None, BlurEstimate(coefficients=[y[:, :1]] * 2), PointwiseOperator())
    with pytest.raises(InputError, match="coefficients"):
        dec(y, None, BlurEstimate(), PointwiseOperator())
    with pytest.raises(restorekit.ConfigError, match="iterations"):
        restorekit.create("nrknet.neumann", iterations=[])


def test_pipeline_without_coefficients_fails_at_build() -> None:
    with pytest.raises(restorekit.PipelineError, match="coefficients"):
        restorekit.load_pipeline({"model": {"decoder": {"type": "nrknet.neumann"}, "operator": {"type": "nrknet.rkr"}}})

"""``nrknet.multiscale`` and ``nrknet.reblur`` against independent numpy / scikit-image references.

Bilinear ×½ (align_corners = False) samples at 2i + 0.5, i.e. the mean of pixels 2i, 2i+1;
bilinear ×¼ samples at 4i + 1.5, the mean of pixels 4i+1, 4i+2 — written here by slicing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from torch import Tensor

from restorekit import BlurEstimate, DecoderOutput, Operator, PipelineOutput
from restorekit.plugins.nrknet.prediction_loss import MultiScalePredictionLoss, ssim_phase_active
from restorekit.plugins.nrknet.reblur_loss import ReblurLoss


def _down2(x: np.ndarray) -> np.ndarray:
    x = 0.5 * (x[..., 0::2, :] + x[..., 1::2, :])
    return 0.5 * (x[..., :, 0::2] + x[..., :, 1::2])


def _down4(x: np.ndarray) -> np.ndarray:
    x = 0.5 * (x[..., 1::4, :] + x[..., 2::4, :])
    return 0.5 * (x[..., :, 1::4] + x[..., :, 2::4])


def _mse_fft(p: np.ndarray, x: np.ndarray) -> float:
    fp, fx = np.fft.fft2(p), np.fft.fft2(x)
    return float(np.mean((p - x) ** 2) + 0.1 * (np.mean(np.abs(fp.real - fx.real)) + np.mean(np.abs(fp.imag - fx.imag))))


def _output(h: int = 32, seed: int = 0, **extra: Any) -> tuple[PipelineOutput, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    preds = [torch.rand(2, 3, h // s, h // s, generator=gen, dtype=torch.float64) for s in (1, 1, 2, 4)]
    sharp = torch.rand(2, 3, h, h, generator=gen, dtype=torch.float64)
    dec = DecoderOutput(restored=preds[0], intermediates=preds[1:])
    out = PipelineOutput(restored=preds[0], decoder=dec, estimate=extra.get("estimate", BlurEstimate()), operator=extra.get("operator"))
    return out, sharp


def test_multiscale_loss_weights_and_targets() -> None:
    out, sharp = _output()
    loss = MultiScalePredictionLoss()
    value = float(loss(out, {"sharp": sharp}))
    x = sharp.numpy()
    preds = [t.numpy() for t in (out.restored, *out.intermediates)]
    targets = [x, x, _down2(x), _down4(x)]
    expected = sum(w * _mse_fft(p, t) for w, p, t in zip([1.0, 0.75, 0.5, 0.25], preds, targets))
    assert value == pytest.approx(expected, rel=1e-12)
    assert loss.scale_weights == [1.0, 0.75, 0.5, 0.25] and loss.fft_weight == 0.1


def test_ssim_phase_schedule() -> None:
    dpdd = {0: False, 999: False, 1000: False, 1100: False, 1101: True, 1199: True, 1200: False, 1350: True, 2101: True}
    for epoch, active in dpdd.items():
        assert ssim_phase_active(epoch, "dpdd") is active, epoch
    lfdof = {99: False, 110: False, 111: True, 119: True, 120: False, 135: True}
    for epoch, active in lfdof.items():
        assert ssim_phase_active(epoch, "lfdof") is active, epoch
    assert not ssim_phase_active(1101, "off")


def test_ssim_phase_matches_scikit_image() -> None:
    out, sharp = _output(h=64, seed=1)
    loss = MultiScalePredictionLoss(ssim_phases="dpdd")
    loss.set_epoch(1150)
    value = float(loss(out, {"sharp": sharp}))
    x = sharp.numpy()
    preds = [t.numpy() for t in (out.restored, *out.intermediates)]
    targets = [x, x, _down2(x), _down4(x)]

    def ssim(a: np.ndarray, b: np.ndarray) -> float:
        vals = [
            structural_similarity(a[i], b[i], channel_axis=0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
            for i in range(a.shape[0])
        ]
        return float(np.mean(vals))

    expected = sum(w * (1 - ssim(p, t)) for w, p, t in zip([1.0, 0.75, 0.5, 0.25], preds, targets))
    assert value == pytest.approx(expected, rel=1e-4)
    loss.set_epoch(1050)
    assert float(loss(out, {"sharp": sharp})) != pytest.approx(expected, rel=1e-2)


class ScaleOperator(Operator):
    """D(u) = Γ[:, :1] ⊙ u (test double)."""

    requires = frozenset({"coefficients"})

    def A(self, x: Tensor, coefficients: Tensor | None = None, **params: Any) -> Tensor:
        return coefficients[:, :1] * x

    def A_adjoint(self, y: Tensor, coefficients: Tensor | None = None, **params: Any) -> Tensor:
        return coefficients[:, :1] * y


def test_reblur_loss_eq14() -> None:
    gen = torch.Generator().manual_seed(2)
    gammas = [torch.rand(2, 1, 32 // 2**t, 32 // 2**t, generator=gen, dtype=torch.float64) for t in range(3)]
    out, sharp = _output(estimate=BlurEstimate(coefficients=gammas), operator=ScaleOperator())
    blurry = torch.rand(sharp.shape, generator=gen, dtype=torch.float64)
    value = float(ReblurLoss()(out, {"sharp": sharp, "blurry": blurry}))
    x, y = sharp.numpy(), blurry.numpy()
    reblurred = [g.numpy() * x[..., :: 2**t, :: 2**t] for t, g in enumerate(gammas)]  # nearest-decimated sharp
    targets = [y, _down2(y), _down4(y)]  # bilinear blurry
    expected = 0.1 * sum(w * np.mean((r - t) ** 2) for w, r, t in zip([0.75, 0.5, 0.25], reblurred, targets))
    assert value == pytest.approx(expected, rel=1e-12)
    assert float(ReblurLoss(reblur_weight=0.0)(out, {"sharp": sharp, "blurry": blurry})) == 0.0

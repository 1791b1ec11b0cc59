"""standard.fft_l1 against numpy.fft (full and half spectrum), and its AMP behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import restorekit
from restorekit.testing import check_loss

from ._helpers import output_of, pair


def _fft_l1_numpy(a: np.ndarray, b: np.ndarray, real: bool) -> float:
    """mean|Re F(a) − Re F(b)| + mean|Im F(a) − Im F(b)|, F unnormalised over the last two axes."""
    fa = np.fft.rfft2(a) if real else np.fft.fft2(a)
    fb = np.fft.rfft2(b) if real else np.fft.fft2(b)
    return float(np.mean(np.abs(fa.real - fb.real)) + np.mean(np.abs(fa.imag - fb.imag)))


@pytest.mark.parametrize("transform", ["fft2", "rfft2"])
def test_matches_numpy_fft(transform: str) -> None:
    pred, sharp = pair((2, 3, 6, 10))
    value = restorekit.create("standard.fft_l1", transform=transform)(output_of(pred), {"sharp": sharp})
    expected = _fft_l1_numpy(pred.numpy(), sharp.numpy(), real=transform == "rfft2")
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_unnormalised_value_on_a_constant_difference() -> None:
    # a constant difference c has one DC coefficient c·H·W (real), all else 0
    sharp = torch.zeros(1, 1, 4, 8, dtype=torch.float64)
    value = restorekit.create("standard.fft_l1")(output_of(sharp + 0.5), {"sharp": sharp})
    dc = 0.5 * 4 * 8  # F(c)[0, 0] = c·H·W with the unnormalised transform
    assert float(value) == pytest.approx(dc / 32, abs=1e-14)  # the mean over the 32 bins


def test_zero_gradients_and_conformance() -> None:
    loss = restorekit.create("standard.fft_l1")
    check_loss(loss)
    pred, sharp = pair()
    assert float(loss(output_of(sharp.clone()), {"sharp": sharp})) == 0.0
    pred.requires_grad_(True)
    (g,) = torch.autograd.grad(loss(output_of(pred), {"sharp": sharp}), pred)
    assert torch.isfinite(g).all()


def test_runs_in_float32_under_autocast() -> None:
    pred, sharp = pair((1, 3, 8, 8), dtype=torch.float32)
    loss = restorekit.create("standard.fft_l1")
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        value = loss(output_of(pred.bfloat16()), {"sharp": sharp})
    assert value.dtype == torch.float32
    expected = _fft_l1_numpy(pred.bfloat16().float().numpy().astype(np.float64), sharp.numpy().astype(np.float64), real=False)
    assert float(value) == pytest.approx(expected, rel=1e-5)

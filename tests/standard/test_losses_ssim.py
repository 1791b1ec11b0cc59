"""standard.ssim against scikit-image (valid padding) and a numpy/scipy SSIM (same padding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

import restorekit
from restorekit import ConfigError, InputError
from restorekit.testing import check_loss

from ._helpers import output_of, pair


def _smooth_pair(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A structured image and a noisy version of it (SSIM well away from 0 and 1)."""
    gen = torch.Generator().manual_seed(3)
    sharp = torch.rand(shape, generator=gen, dtype=torch.float64)
    sharp = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1, count_include_pad=False)
    pred = (sharp + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return pred, sharp


def test_valid_padding_matches_skimage() -> None:
    pred, sharp = _smooth_pair((2, 3, 24, 20))
    value = restorekit.create("standard.ssim", padding="valid")(output_of(pred), {"sharp": sharp})
    ref = np.mean(
        [
            structural_similarity(
                p.numpy(), s.numpy(), channel_axis=0, data_range=1.0,
                gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            )
            for p, s in zip(pred, sharp)
        ]
    )
    assert float(value) == pytest.approx(1.0 - ref, rel=1e-9)


def _ssim_same_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. SSIM with an 11-tap σ=1.5 Gaussian, torch-style 'reflect' border (scipy 'mirror')."""
    blur = lambda x: ndimage.gaussian_filter(x, sigma=(0, 0, 1.5, 1.5), truncate=5 / 1.5, mode="mirror")  # noqa: E731
    c1, c2 = 0.01**2, 0.03**2
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
    ssim_map = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(ssim_map.mean())


def test_same_padding_matches_numpy_reference() -> None:
    pred, sharp = _smooth_pair((1, 3, 16, 18))
    value = restorekit.create("standard.ssim")(output_of(pred), {"sharp": sharp})
    assert float(value) == pytest.approx(1.0 - _ssim_same_numpy(pred.numpy(), sharp.numpy()), rel=1e-9)


def test_zero_for_identical_and_conformance() -> None:
    loss = restorekit.create("standard.ssim")
    _, sharp = pair((1, 3, 16, 16))
    assert float(loss(output_of(sharp.clone()), {"sharp": sharp})) == pytest.approx(0.0, abs=1e-12)
    check_loss(loss)
    pred, _ = pair((1, 3, 16, 16), seed=1)
    pred.requires_grad_(True)
    (g,) = torch.autograd.grad(loss(output_of(pred), {"sharp": sharp}), pred)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_too_small_image_and_bad_window() -> None:
    pred, sharp = pair((1, 3, 8, 8))
    with pytest.raises(InputError, match="too small for window_size 11"):
        restorekit.create("standard.ssim", padding="valid")(output_of(pred), {"sharp": sharp})
    with pytest.raises(ConfigError, match="odd"):
        restorekit.create("standard.ssim", window_size=10)

"""PSNR/SSIM/protocols checked against scikit-image (an independent implementation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from restorekit import ConfigError, InputError
from tests.conftest import shared_data
from restorekit.metrics import compute_metrics, get_protocol, protocol_from_settings, psnr, ssim

SET3C = shared_data() / "set3c"


def _pair(seed: int = 0, shape: tuple[int, ...] = (2, 3, 24, 20)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sharp = torch.rand(shape, generator=g, dtype=torch.float64)
    restored = (sharp + 0.05 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return restored, sharp


def test_psnr_matches_skimage() -> None:
    restored, sharp = _pair()
    ours = psnr(restored, sharp, data_range=1.0)
    for i in range(2):
        ref = peak_signal_noise_ratio(sharp[i].numpy(), restored[i].numpy(), data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-10)


def test_psnr_identical_is_inf() -> None:
    x = torch.rand(1, 3, 16, 16)
    assert math.isinf(psnr(x, x).item())
    assert math.isinf(compute_metrics(x, x, "set3c_levin")["psnr"].item())


def test_ssim_matches_skimage_gaussian_window() -> None:
    restored, sharp = _pair(1, (2, 3, 32, 27))
    ours = ssim(restored, sharp, data_range=1.0)
    for i in range(2):
        ref = structural_similarity(
            sharp[i].numpy(), restored[i].numpy(), data_range=1.0, channel_axis=0,
            gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        )
        assert ours[i].item() == pytest.approx(ref, abs=1e-7)


def test_set3c_levin_protocol_on_uint8_images() -> None:
    """benchmarks.md §2.1 steps 6-7: uint8 RGB, border 0, peak 255."""
    x_u8 = np.asarray(Image.open(SET3C / "butterfly.png").convert("RGB"))
    rng = np.random.default_rng(0)
    x_hat = np.clip(x_u8 / 255.0 + rng.normal(0, 0.02, x_u8.shape), 0, 1)
    x_hat_u8 = np.round(x_hat * 255).astype(np.uint8)
    ref_psnr = peak_signal_noise_ratio(x_u8, x_hat_u8, data_range=255)
    ref_ssim = structural_similarity(
        x_u8.astype(np.float64), x_hat_u8.astype(np.float64), data_range=255, channel_axis=2,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    )
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]  # noqa: E731
    out = compute_metrics(t(x_hat).float(), t(x_u8 / 255.0).float(), "set3c_levin")
    assert out["psnr"].item() == pytest.approx(ref_psnr, abs=1e-9)
    assert out["ssim"].item() == pytest.approx(ref_ssim, abs=1e-7)
    # rounding matters: the float protocol gives a different number
    assert compute_metrics(t(x_hat), t(x_u8 / 255.0), "default")["psnr"].item() != pytest.approx(ref_psnr, abs=1e-3)


def test_y_protocol_with_border_matches_skimage_ycbcr() -> None:
    restored, sharp = _pair(2, (1, 3, 40, 36))
    proto = protocol_from_settings({"protocol": "y", "border": 4})
    out = compute_metrics(restored, sharp, proto)

    def y8(t: torch.Tensor) -> np.ndarray:
        u8 = np.round(t[0].numpy().transpose(1, 2, 0).clip(0, 1) * 255) / 255.0
        return np.round(rgb2ycbcr(u8)[..., 0])[4:-4, 4:-4]

    ref = peak_signal_noise_ratio(y8(sharp), y8(restored), data_range=255)
    assert out["psnr"].item() == pytest.approx(ref, abs=1e-9)


def test_unknown_protocol_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'set3c_levin'"):
        get_protocol("set3c_levn")


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="differ in shape"):
        compute_metrics(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ConfigError, match="lpips_weights"):
        compute_metrics(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), {"metrics": ["lpips"]})
    with pytest.raises(ConfigError, match="data_range must be 255"):
        protocol_from_settings({"uint8": True, "data_range": 1.0})

"""Shared test inputs for the svmap tests: Set3C crops blurred by Levin kernels."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.signal import convolve2d

from tests.conftest import shared_data


def levin_kernel(name: str) -> np.ndarray:
    """One of the Levin 2009 kernels ``k1`` … ``k8`` (float64, sum 1, MATLAB orientation)."""
    with np.load(shared_data() / "levin09_kernels.npz") as data:
        return np.asarray(data[name], dtype=np.float64)


def gray_crop(image: str = "leaves", top: int = 64, left: int = 64, size: int = 96, margin: int = 0) -> np.ndarray:
    """A grayscale crop of a Set3C image in [0, 1], enlarged by ``margin`` on every side."""
    rgb = np.asarray(Image.open(shared_data() / "set3c" / f"{image}.png").convert("RGB"), dtype=np.float64) / 255.0
    gray = rgb @ np.array([0.299, 0.587, 0.114])
    return gray[top - margin : top + size + margin, left - margin : left + size + margin]


def linear_blur_problem(kernel: np.ndarray, sigma: float = 2.55 / 255, size: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(sharp, blurry)``: a true linear blur (``valid`` on a larger crop, no boundary
    artefacts) of a ``size × size`` Set3C crop plus Gaussian noise of std ``sigma``."""
    h, w = kernel.shape
    top, left = h - 1 - h // 2, w - 1 - w // 2
    big = gray_crop(size=size + max(h, w), top=64 - max(h, w) // 2, left=64 - max(h, w) // 2)
    # choose the crop so that the valid convolution lands exactly on `sharp`
    r0, c0 = max(h, w) // 2, max(h, w) // 2
    sharp = big[r0 : r0 + size, c0 : c0 + size]
    window = big[r0 - top : r0 + size + h - 1 - top, c0 - left : c0 + size + w - 1 - left]
    blurry = convolve2d(window, kernel, mode="valid")
    blurry = blurry + np.random.default_rng(seed).normal(0.0, sigma, blurry.shape)
    return sharp, blurry


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of ``clip(a, 0, 1)`` against ``b`` (peak 1)."""
    return float(10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1) - b) ** 2)))

"""Gaussian PSFs, isotropic and anisotropic (spec operators_and_kernels.md §7.3)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restorekit.errors import InputError

from ._common import Seed, make_generator, normalized, uniform

__all__ = ["gaussian", "random_gaussian"]


def gaussian(sigma1: float, sigma2: float | None = None, angle: float = 0.0, size: int | None = None) -> Tensor:
    """``k(u) ∝ exp(−½ uᵀ Σ⁻¹ u)`` with ``Σ = R(θ) diag(σ1², σ2²) R(θ)ᵀ``.

    ``u = (x, y)`` = (column offset, row offset) from the centre ``(size//2, size//2)``;
    at ``θ = 0`` ``σ1`` acts along the columns (horizontal) and ``σ2`` along the rows.
    ``θ`` is in degrees, counter-clockwise in (x, y). ``σ1 = σ2`` (``sigma2=None``) is
    isotropic.

    Note: the default size ``2⌈3 max σ⌉ + 1`` truncates the tails at ±3σ, which lowers the
    second moment by up to 2.7 %; pass a larger ``size`` when exact moments matter.

    Returns:
        ``(size, size)`` float64, ≥ 0, sum 1. ``σ = 0`` gives a Dirac.
    """
    s1 = float(sigma1)
    s2 = s1 if sigma2 is None else float(sigma2)
    if s1 < 0 or s2 < 0 or not (math.isfinite(s1) and math.isfinite(s2)):
        raise InputError(f"gaussian: sigmas must be finite and >= 0, got ({s1}, {s2})")
    if size is None:
        size = 2 * math.ceil(3 * max(s1, s2)) + 1
    if size < 1:
        raise InputError(f"gaussian: size must be >= 1, got {size}")
    c = size // 2
    coords = torch.arange(size, dtype=torch.float64) - c
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    if s1 == 0 and s2 == 0:
        return normalized(torch.zeros(size, size, dtype=torch.float64))
    th = math.radians(angle)
    cos, sin = math.cos(th), math.sin(th)
    # coordinates in the rotated frame: u' = R(θ)ᵀ u
    xr = cos * x + sin * y
    yr = -sin * x + cos * y
    # a zero sigma means a delta along that axis
    q1 = (xr / s1) ** 2 if s1 > 0 else torch.where(xr.abs() < 0.5, 0.0, math.inf)
    q2 = (yr / s2) ** 2 if s2 > 0 else torch.where(yr.abs() < 0.5, 0.0, math.inf)
    return normalized(torch.exp(-0.5 * (q1 + q2)))


def random_gaussian(
    seed: Seed = None,
    sigma_min: float = 0.5,
    sigma_max: float = 4.0,
    isotropic: bool = False,
    size: int | None = None,
) -> Tensor:
    """A random Gaussian PSF: ``σ1, σ2 ~ U(sigma_min, sigma_max)``, ``θ ~ U(0, 180°)``.

    Returns:
        ``(size, size)`` float64, ≥ 0, sum 1 (deterministic per seed).
    """
    if not 0 <= sigma_min <= sigma_max:
        raise InputError(f"need 0 <= sigma_min <= sigma_max, got ({sigma_min}, {sigma_max})")
    gen = make_generator(seed)
    u = uniform(gen, 3).tolist()
    s1 = sigma_min + (sigma_max - sigma_min) * u[0]
    s2 = s1 if isotropic else sigma_min + (sigma_max - sigma_min) * u[1]
    if size is None:
        size = 2 * math.ceil(3 * sigma_max) + 1
    return gaussian(s1, s2, 0.0 if isotropic else 180.0 * u[2], size)

"""Defocus pillbox PSF (spec operators_and_kernels.md §7.4)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restorekit.errors import InputError

from ._common import Seed, make_generator, normalized, uniform

__all__ = ["disk", "random_disk", "subsample_distances"]


def subsample_distances(size: int, supersample: int = 8) -> Tensor:
    """Distance to the kernel centre of every sub-sample of every pixel.

    Pixel ``(i, j)`` of a ``size × size`` grid centred at ``size // 2`` is split into
    ``supersample²`` cells whose centres sit at offsets ``(a + ½)/n − ½``.

    Returns:
        ``(size·size, supersample²)`` float64, row-major pixels.
    """
    c = size // 2
    n = supersample
    sub = (torch.arange(n, dtype=torch.float64) + 0.5) / n - 0.5
    pix = torch.arange(size, dtype=torch.float64) - c
    rows = (pix[:, None] + sub[None, :]).reshape(size, 1, n, 1)
    cols = (pix[:, None] + sub[None, :]).reshape(1, size, 1, n)
    d = torch.sqrt(rows**2 + cols**2)  # (size, size, n, n)
    return d.reshape(size * size, n * n)


def disk(radius: float, supersample: int = 8, size: int | None = None) -> Tensor:
    """Pillbox of radius ``r`` pixels: each pixel's value is the fraction of its
    ``supersample × supersample`` sub-samples inside the disk ``|u| ≤ r`` (8×8 by default,
    our choice; MATLAB ``fspecial('disk')`` integrates the exact area).

    Args:
        radius: ``r ≥ 0``; ``r = 0`` (or a disk smaller than one sub-sample) gives a Dirac.
        supersample: sub-samples per pixel side.
        size: kernel size, ``2⌈r⌉ + 1`` by default.

    Returns:
        ``(size, size)`` float64, ≥ 0, sum 1, centred at ``size // 2``, symmetric under 90°
        rotations and flips.
    """
    r = float(radius)
    if not math.isfinite(r) or r < 0:
        raise InputError(f"disk radius must be finite and >= 0, got {radius}")
    if supersample < 1:
        raise InputError(f"supersample must be >= 1, got {supersample}")
    if size is None:
        size = 2 * math.ceil(r) + 1
    if size < 1:
        raise InputError(f"disk size must be >= 1, got {size}")
    inside = (subsample_distances(size, supersample) <= r).to(torch.float64).mean(dim=1)
    return normalized(inside.reshape(size, size))


def random_disk(seed: Seed = None, r_min: float = 1.0, r_max: float = 8.0) -> Tensor:
    """A disk with radius ``r ~ U(r_min, r_max)``, sized for ``r_max`` (``2⌈r_max⌉ + 1``)."""
    if not 0 <= r_min <= r_max:
        raise InputError(f"need 0 <= r_min <= r_max, got ({r_min}, {r_max})")
    gen = make_generator(seed)
    r = r_min + (r_max - r_min) * float(uniform(gen, 1))
    return disk(r, size=2 * math.ceil(r_max) + 1)

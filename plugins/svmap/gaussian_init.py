"""Gaussian-prior (Wiener-like, L2) FFT deconvolution: the SVMAP initialisation.

SVMAP spec §1.5 (Levin's ``deconvL2_frequency.m``; supplement B.5, "ℓ2 norm-based data
term and a Gaussian prior")::

    x⁰ = F⁻¹[ conj(K̂)·Ŷ / (|K̂|² + λ₀(|D̂_x|² + |D̂_y|²)) ]

with ``D_x = [1, −1]``, ``D_y = [1; −1]`` and ``K̂ = psf2otf(k)`` (circular, kernel centre
at the origin). With ``pad=True`` it runs on ``y`` replicate-padded to the free-boundary
enlarged domain ``(H + h − 1) × (W + w − 1)`` (see :mod:`.fourier`), so ``x⁰`` already
lives there; ``pad=False`` is the plain circular solve on ``H × W``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restorekit.functional import psf2otf

from .fourier import free_boundary_padding, replicate_pad

__all__ = ["gaussian_prior_deconv", "gradient_otf_energy"]


def gradient_otf_energy(size: tuple[int, int], dtype: torch.dtype, device: torch.device | str) -> Tensor:
    """``|D̂_x|² + |D̂_y|²`` on an ``H × W`` grid, real, shape ``(H, W // 2 + 1)``."""
    dx = torch.tensor([[1.0, -1.0]], dtype=dtype, device=device)
    dy = torch.tensor([[1.0], [-1.0]], dtype=dtype, device=device)
    return psf2otf(dx, size).abs() ** 2 + psf2otf(dy, size).abs() ** 2


def gaussian_prior_deconv(y: Tensor, kernel: Tensor, lam: float = 2e-3, pad: bool = True) -> Tensor:
    """Closed-form Gaussian-prior deconvolution of ``y`` ``(B, C, H, W)``.

    Args:
        y: blurry image.
        kernel: ``(B|1, 1|C, h, w)`` PSF, true-convolution convention.
        lam: λ₀ (2e-3 in Levin's demo and the SVMAP default).
        pad: replicate-pad ``y`` to the enlarged domain first (free-boundary use).

    Returns:
        ``(B, C, H + h − 1, W + w − 1)`` with ``pad=True``, else ``(B, C, H, W)``.
        Differentiable with respect to ``y`` and ``kernel``.
    """
    if pad:
        y = replicate_pad(y, free_boundary_padding((kernel.shape[-2], kernel.shape[-1])))
    size = (int(y.shape[-2]), int(y.shape[-1]))
    otf = psf2otf(kernel.to(y.dtype), size)
    denom = otf.abs() ** 2 + lam * gradient_otf_energy(size, y.dtype, y.device)
    return torch.fft.irfft2(otf.conj() * torch.fft.rfft2(y) / denom, s=size)

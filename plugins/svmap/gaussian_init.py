"""Gaussian-prior (Wiener-like, L2) FFT deconvolution: the SVMAP initialisation.

SVMAP spec §1.5 (Levin's ``deconvL2_frequency.m``; supplement B.5, "ℓ2 norm-based data
term and a Gaussian prior")::

    x⁰ = F⁻¹[ conj(K̂)·Ŷ / (|K̂|² + λ₀(|D̂_x|² + |D̂_y|²)) ]

with ``D_x = [1, −1]``, ``D_y = [1; −1]`` and ``K̂`` the operator's DFT diagonal
(:meth:`.physics.SolverPhysics.otf`: its transfer function for circular convolution, the
transform of its centre point-spread otherwise — ``psf2otf(k)`` for a uniform kernel).
It runs on ``y`` replicate-padded to the operator's domain (the enlarged
``(H + h − 1) × (W + w − 1)`` free-boundary domain for a ``valid`` convolution), so
``x⁰`` already lives there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restorekit.functional import psf2otf

from .physics import SolverPhysics, free_boundary_padding, replicate_pad

__all__ = ["gaussian_prior_deconv", "gaussian_prior_init", "gradient_otf_energy"]


def gradient_otf_energy(size: tuple[int, int], dtype: torch.dtype, device: torch.device | str) -> Tensor:
    """``|D̂_x|² + |D̂_y|²`` on an ``H × W`` grid, real, shape ``(H, W // 2 + 1)``."""
    dx = torch.tensor([[1.0, -1.0]], dtype=dtype, device=device)
    dy = torch.tensor([[1.0], [-1.0]], dtype=dtype, device=device)
    return psf2otf(dx, size).abs() ** 2 + psf2otf(dy, size).abs() ** 2


def _solve(y: Tensor, otf: Tensor, lam: float) -> Tensor:
    size = (int(y.shape[-2]), int(y.shape[-1]))
    denom = otf.abs() ** 2 + lam * gradient_otf_energy(size, y.dtype, y.device)
    return torch.fft.irfft2(otf.conj() * torch.fft.rfft2(y) / denom, s=size)


def gaussian_prior_deconv(y: Tensor, kernel: Tensor, lam: float = 2e-3, pad: bool = True) -> Tensor:
    """Closed-form Gaussian-prior deconvolution of ``y`` ``(B, C, H, W)`` by a kernel.

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
    return _solve(y, psf2otf(kernel.to(y.dtype), (int(y.shape[-2]), int(y.shape[-1]))), lam)


def gaussian_prior_init(physics: SolverPhysics, y: Tensor, lam: float = 2e-3) -> Tensor:
    """The same closed form over the solver's operator: ``y`` ``(B, C, H, W)`` →
    ``x⁰`` on the operator's domain ``physics.domain_shape``."""
    return _solve(physics.pad(physics.data(y)), physics.otf(), lam)

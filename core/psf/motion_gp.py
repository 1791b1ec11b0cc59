"""Gaussian-process motion-blur PSFs (``motion_gp``), after deepinv ``MotionBlurGenerator``
(Schuler et al., "Learning to deblur", TPAMI 2016); spec operators_and_kernels.md §7.2.

The camera path ``(x(t), y(t))`` is two independent zero-mean GPs with the Matérn-5/2
covariance ``σ²(1 + √5 r/l + 5r²/(3l²)) exp(−√5 r/l)`` (deepinv's docstring says 3/2; the
formula is 5/2), sampled on ``n_steps`` points of ``t ∈ [−π, π]`` by spectral filtering
``irfft(rfft(white) · sqrt(rfft(k)))``. As in deepinv, the first ``⌊n_steps/(2π)⌋``
samples (a window of unit length in t) form the path; it is mean-centred and
rasterised by a 2-D histogram over ``[−1, 1]²``.

Our choice (differs from deepinv): the covariance is evaluated at the *circular* lag
between grid points, so that ``rfft(k)`` is the real power spectrum of a stationary
periodic process and its square root is well defined (negative round-off is clipped to
0); deepinv takes the complex square root of the FFT of the un-wrapped kernel.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restorekit.errors import InputError

from ._common import Seed, make_generator, normalized

__all__ = ["matern52", "motion_gp"]


def matern52(r: Tensor, sigma: float, length: float) -> Tensor:
    """Matérn-5/2 covariance ``σ²(1 + √5r/l + 5r²/(3l²)) exp(−√5r/l)``."""
    a = math.sqrt(5.0) * r.abs() / length
    return sigma**2 * (1 + a + a**2 / 3) * torch.exp(-a)


def _gp_path(gen: torch.Generator, n_steps: int, sigma: float, length: float) -> Tensor:
    t = torch.linspace(-math.pi, math.pi, n_steps, dtype=torch.float64)
    dt = t[1] - t[0]
    lag = torch.arange(n_steps, dtype=torch.float64)
    circ = torch.minimum(lag, n_steps - lag) * dt
    spectrum = torch.fft.rfft(matern52(circ, sigma, length)).real.clamp_min(0)
    white = torch.randn((2, n_steps), generator=gen, dtype=torch.float64)
    paths = torch.fft.irfft(torch.fft.rfft(white) * spectrum.sqrt(), n=n_steps)
    return paths[:, : max(2, int(n_steps // (2 * math.pi)))]


def motion_gp(
    seed: Seed = None,
    size: int = 31,
    length: float = 0.3,
    sigma: float = 0.25,
    n_steps: int = 1000,
) -> Tensor:
    """A random Gaussian-process motion PSF ``(size, size)``, float64, ≥ 0, sum 1.

    Args:
        seed: int or ``torch.Generator``.
        size: PSF size = histogram bins over ``[−1, 1]`` per axis.
        length: Matérn length scale ``l``.
        sigma: Matérn amplitude ``σ`` (path extent relative to the half-width 1).
        n_steps: GP samples over ``[−π, π]``.

    Returns:
        ``(size, size)``: row = y, column = x. Path points outside ``[−1, 1]²`` are
        dropped (as deepinv's histogram does); if none is left, a Dirac.
    """
    if size < 1 or n_steps < 8 or length <= 0 or sigma < 0:
        raise InputError(
            f"motion_gp needs size >= 1, n_steps >= 8, length > 0, sigma >= 0; got size={size}, "
            f"n_steps={n_steps}, length={length}, sigma={sigma}"
        )
    gen = make_generator(seed)
    xy = _gp_path(gen, n_steps, sigma, length)
    xy = xy - xy.mean(dim=1, keepdim=True)
    x, y = xy[0], xy[1]
    # histogram over [-1, 1]^2 with `size` bins per axis (right edge included, as histogramdd)
    col = torch.floor((x + 1) / 2 * size).long()
    row = torch.floor((y + 1) / 2 * size).long()
    col = torch.where(x == 1, size - 1, col)
    row = torch.where(y == 1, size - 1, row)
    keep = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    hist = torch.zeros(size * size, dtype=torch.float64)
    hist = hist.index_add(0, row[keep] * size + col[keep], torch.ones(int(keep.sum()), dtype=torch.float64))
    return normalized(hist.reshape(size, size))

"""Boracchi–Foi random camera-shake trajectories and their PSFs (``motion_bf``).

Boracchi, Foi, "Modeling the performance of image restoration from motion blur",
IEEE TIP 2012; the parameters and sampling order follow the DeblurGAN port
(``motion_blur/generate_trajectory.py``, ``generate_PSF.py``); spec
operators_and_kernels.md §7.1.

Differences from DeblurGAN (documented, our choice): the PSF is normalised to sum 1
(DeblurGAN min–max normalises it), and the bilinear splat indices are clamped to
``[0, canvas − 2]`` so that a path touching the canvas edge cannot index out of range.
"""

from __future__ import annotations

import cmath
import math

import torch
from torch import Tensor

from restorekit.errors import InputError

from ._common import Seed, make_generator, normalized, uniform

EXPL_CHOICES: tuple[float, ...] = (0.01, 0.009, 0.008, 0.007, 0.005, 0.003, 0.002, 0.001)
"""DeblurGAN's set of anxiety values (``expl=None`` samples one of them)."""
FRACTIONS: tuple[float, ...] = (1 / 1000, 1 / 10, 1 / 2, 1.0)
"""Exposure fractions T of the 4 cumulative PSFs."""

__all__ = ["EXPL_CHOICES", "FRACTIONS", "bf_psf", "bf_trajectory", "motion_bf"]


def bf_trajectory(
    seed: Seed = None,
    canvas: int = 64,
    iters: int = 2000,
    max_len: float = 60.0,
    expl: float | None = 0.005,
) -> Tensor:
    """A Boracchi–Foi particle path ``x_t`` as a complex128 tensor of length ``iters``.

    Per trajectory: centripetal = 0.7·U, prob_big_shake = 0.2·U, gaussian_shake = 10·U,
    θ ~ U(0, 360°). Velocity ``v_0 = e^{iθ}·expl`` (``e^{iθ}·max_len/(iters−1)`` when
    ``expl = 0``). Each step: with probability ``prob_big_shake·expl`` add the abrupt
    reversal ``2v·e^{i(π + U(−½, ½))}``; add ``expl·(gaussian_shake·(N + iN) −
    centripetal·x_t)·max_len/(iters − 1)``; renormalise ``|v| = max_len/(iters − 1)``;
    ``x_{t+1} = x_t + v``. Finally shift to positive coordinates and centre on the canvas
    exactly as DeblurGAN. ``expl = 0`` gives a straight line of length ``max_len``.
    ``real`` is the column (x) and ``imag`` the row (y) coordinate.
    """
    if iters < 2:
        raise InputError(f"iters must be >= 2, got {iters}")
    if canvas < 2:
        raise InputError(f"canvas must be >= 2 pixels, got {canvas}")
    gen = make_generator(seed)
    if expl is None:
        expl = EXPL_CHOICES[int(torch.randint(len(EXPL_CHOICES), (1,), generator=gen))]
    if expl < 0:
        raise InputError(f"expl (anxiety) must be >= 0, got {expl}")
    centripetal, prob_big_shake, gaussian_shake, angle = (uniform(gen, 4) * torch.tensor([0.7, 0.2, 10.0, 360.0], dtype=torch.float64)).tolist()
    # all per-step random numbers drawn up front (same distribution as the sequential draws)
    shake_u = uniform(gen, iters - 1).tolist()
    reversal_u = uniform(gen, iters - 1).tolist()
    noise = torch.randn((iters - 1, 2), generator=gen, dtype=torch.float64).tolist()

    step = max_len / (iters - 1)
    v0 = cmath.exp(1j * math.radians(angle))
    v = v0 * expl if expl > 0 else v0 * step
    x = [0j] * iters
    for t in range(iters - 1):
        nxt = 2 * v * cmath.exp(1j * (math.pi + (reversal_u[t] - 0.5))) if shake_u[t] < prob_big_shake * expl else 0j
        dv = nxt + expl * (gaussian_shake * complex(noise[t][0], noise[t][1]) - centripetal * x[t]) * step
        v = v + dv
        v = v / abs(v) * step
        x[t + 1] = x[t] + v
    path = torch.tensor(x, dtype=torch.complex128)
    # centre the motion (DeblurGAN): positive coordinates, sub-pixel phase of x_0 kept, +1 margin
    path = path - complex(float(path.real.min()), float(path.imag.min()))
    path = path - complex(float(path[0].real) % 1.0, float(path[0].imag) % 1.0) + complex(1, 1)
    path = path + complex(math.ceil((canvas - float(path.real.max())) / 2), math.ceil((canvas - float(path.imag.max())) / 2))
    return path


def bf_psf(path: Tensor, canvas: int = 64, fractions: tuple[float, ...] = FRACTIONS) -> list[Tensor]:
    """The cumulative PSFs of a trajectory for each exposure fraction (DeblurGAN ``PSF.fit``).

    Sample ``t`` contributes the part of ``[t−1, t]`` inside ``(T_{j−1}·iters, T_j·iters]``
    (DeblurGAN's ``t_proportion``), bilinear-splatted onto its 4 neighbouring pixels; the
    accumulator is cumulative over ``j`` and divided by ``iters``.

    Returns:
        one ``(canvas, canvas)`` float64 tensor per fraction (not normalised).
    """
    iters = path.shape[0]
    t = torch.arange(iters, dtype=torch.float64)
    col, row = path.real, path.imag
    m2 = col.floor().clamp(0, canvas - 2).long()
    m1 = row.floor().clamp(0, canvas - 2).long()

    def tri(d: Tensor) -> Tensor:
        return (1 - d.abs()).clamp_min(0)

    psf = torch.zeros(canvas * canvas, dtype=torch.float64)
    out: list[Tensor] = []
    prev = 0.0
    for frac in fractions:
        hi, lo = frac * iters, prev * iters
        # overlap of the sample interval [t-1, t] with (lo, hi], as DeblurGAN's four cases
        prop = torch.where(
            (hi >= t) & (lo < t - 1),
            torch.ones_like(t),
            torch.where(
                (hi >= t - 1) & (lo < t - 1),
                hi - (t - 1),
                torch.where((hi >= t) & (lo < t), t - lo, torch.where((hi >= t - 1) & (lo < t), torch.full_like(t, hi - lo), torch.zeros_like(t))),
            ),
        )
        for dr in (0, 1):
            for dc in (0, 1):
                w = prop * tri(col - (m2 + dc)) * tri(row - (m1 + dr))
                psf = psf.index_add(0, (m1 + dr) * canvas + (m2 + dc), w)
        out.append(psf.reshape(canvas, canvas) / iters)
        prev = frac
    return out


def motion_bf(
    seed: Seed = None,
    canvas: int = 64,
    iters: int = 2000,
    max_len: float = 60.0,
    expl: float | None = 0.005,
    fraction: float | None = None,
) -> Tensor:
    """A random Boracchi–Foi motion-blur PSF ``(canvas, canvas)``, float64, ≥ 0, sum 1.

    Args:
        seed: int or ``torch.Generator`` (deterministic per seed).
        canvas: PSF size in pixels (the path is centred on it).
        iters: trajectory samples.
        max_len: path length in pixels.
        expl: anxiety; 0 gives a straight line, ``None`` samples DeblurGAN's set.
        fraction: exposure fraction T; ``None`` picks one of 1/1000, 1/10, 1/2, 1 at random.

    Returns:
        ``(canvas, canvas)`` float64 CPU tensor; true-convolution kernel centred at
        ``(canvas // 2, canvas // 2)``.
    """
    gen = make_generator(seed)
    path = bf_trajectory(gen, canvas=canvas, iters=iters, max_len=max_len, expl=expl)
    if fraction is None:
        psfs = bf_psf(path, canvas)
        psf = psfs[int(torch.randint(len(psfs), (1,), generator=gen))]
    else:
        if not 0 < fraction <= 1:
            raise InputError(f"fraction must be in (0, 1], got {fraction}")
        psf = bf_psf(path, canvas, (fraction,))[0]
    return normalized(psf)

"""Element-wise hyper-Laplacian shrinkage: the w-step of Krishnan & Fergus (NIPS 2009).

Solves, for every element ``v`` of a tensor,

    w* = argmin_w |w|^α + (β/2)(w − v)²                                      (KF09 Eq. 5)

With ``u = |v|`` and ``w = sign(v)·s``, ``s ≥ 0``:

* α = 1: soft threshold, ``s = max(u − 1/β, 0)``;
* α = 1/2: a minimiser ``s > 0`` satisfies ``(1/2) s^{−1/2} = β(u − s)``, i.e.
  ``s (u − s)² = c`` with ``c = 1/(4β²)`` (KF09 Eq. 11, the cubic
  ``s³ − 2u s² + u² s − c = 0``). Its three real roots (when ``4u³/27 ≥ c``) are
  ``s_k = (2u/3)(1 + cos(φ/3 − 2πk/3))`` with ``cos φ = 27c/(2u³) − 1`` (trigonometric
  Cardano); the admissible one (a local minimum of the objective, in ``(2u/3, u)``) is
  ``k = 1``, which exists iff ``u³ ≥ 27c/2``. Evaluated in real arithmetic, element-wise:
  exact, and an order of magnitude faster than complex Cardano;
* α = 2/3: with ``t = u − s``, ``t³(u − t) = c`` with ``c = 8/(27β³)`` (KF09 Eq. 12, the
  quartic). ``h(t) = t³(u − t) − c`` is increasing and convex on ``(0, u/2)``, the
  admissible root lies there iff ``h(u/2) ≥ 0`` (i.e. ``s ∈ (u/2, u)``), and
  ``t* ≤ t₀ = min(u/2, (2c/u)^{1/3})``. Newton's method from ``t₀`` therefore converges
  monotonically (from above); 6 steps reach the double-precision root (tested against a
  brute-force grid and to 1e-10 against Ferrari's closed form);
* other α: Newton steps on ``α s^{α−1} + β(s − u) = 0`` from ``s = u`` (KF09 §4).

In every case the candidate is kept only if its objective is lower than at ``w = 0``
(and, for α ∈ {1/2, 2/3}, if it lies in KF09's admissible interval). That happens exactly
above one threshold of ``|v|`` (:func:`shrink_threshold`, computed once per β), so the
root formula runs in cache-sized chunks and is skipped for chunks that lie wholly below it
(at the first β values of the continuation, almost all of them). The authors' CPU code uses a look-up
table instead (v ∈ [−10, 10], step 1e-4).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

__all__ = ["beta_schedule", "hyper_laplacian_shrink", "shrink_derivative", "shrink_objective", "shrink_threshold"]

CHUNK = 1 << 16
"""Elements per chunk of the w-step (our choice: 256 kB of float32, about L2-sized)."""


def beta_schedule(beta0: float = 1.0, rate: float = 2.0 * math.sqrt(2.0), beta_max: float = 2.0**8) -> list[float]:
    """KF09 continuation: β = β₀·rateᵏ while β < β_max → 1, 2.83, 8, 22.6, 64, 181.02."""
    out, beta = [], beta0
    while beta < beta_max:
        out.append(beta)
        beta *= rate
    return out


def shrink_objective(w: Tensor, v: Tensor, beta: float, alpha: float) -> Tensor:
    """``|w|^α + (β/2)(w − v)²`` element-wise."""
    return w.abs().pow(alpha) + 0.5 * beta * (w - v) ** 2


def _half_root(u: Tensor, beta: float) -> Tensor:
    """α = 1/2: ``s = (2u/3)(1 + cos(φ/3 − 2π/3))``, ``cos φ = 27c/(2u³) − 1`` clamped to
    [−1, 1]; computed in place on a fresh buffer (≈ 12 element-wise passes). Only meaningful
    where ``u`` is above the threshold (the caller masks the rest)."""
    c = 1.0 / (4.0 * beta * beta)
    t = u * u
    t.mul_(u).reciprocal_().mul_(13.5 * c).sub_(1.0).clamp_(-1.0, 1.0)
    t.arccos_().div_(3.0).sub_(2.0 * math.pi / 3.0).cos_().add_(1.0).mul_(u).mul_(2.0 / 3.0)
    return t


def _two_thirds_root(u: Tensor, beta: float, steps: int = 6) -> Tensor:
    """α = 2/3: ``s = u − t`` with ``t`` from monotone Newton on ``t³(u − t) = c`` started
    at ``min(u/2, (2c/u)^{1/3})`` (see the module docstring). Only meaningful above the
    threshold (the caller masks the rest)."""
    c = 8.0 / (27.0 * beta**3)
    safe = u.clamp_min(1e-30)
    t = torch.minimum(0.5 * safe, (2.0 * c / safe).pow_(1.0 / 3.0))
    for _ in range(steps):
        t2 = t * t
        h = (safe - t).mul_(t2).mul_(t).sub_(c)  # t³(u − t) − c
        dh = t.mul(-4.0).add_(safe, alpha=3.0).mul_(t2)  # t²(3u − 4t)
        t = t - h.div_(dh.clamp_min_(1e-30))
    return safe - t


def _newton_root(u: Tensor, beta: float, alpha: float, steps: int) -> Tensor:
    """Other α: Newton on ``α s^{α−1} + β(s − u) = 0`` from ``s = u`` (KF09 §4)."""
    s = u.clone()
    for _ in range(steps):
        sp = s.clamp_min(1e-30)
        f = alpha * sp.pow(alpha - 1) + beta * (sp - u)
        df = alpha * (alpha - 1) * sp.pow(alpha - 2) + beta
        step = torch.where(df > 0, f / df, torch.zeros_like(f))
        s = torch.minimum((s - step).clamp(0.0, None), u)
    return s


def _candidate(u: Tensor, beta: float, alpha: float, newton_steps: int) -> tuple[Tensor, Tensor]:
    """The candidate ``s`` and whether it is admissible and better than ``w = 0``."""
    if abs(alpha - 0.5) < 1e-12:
        s = _half_root(u, beta)
        ok = u * u * u >= 13.5 / (4.0 * beta * beta)  # s ∈ [2u/3, u]
    elif abs(alpha - 2.0 / 3.0) < 1e-12:
        s = _two_thirds_root(u, beta)
        ok = (0.5 * u) ** 4 >= 8.0 / (27.0 * beta**3)  # s ∈ [u/2, u]
    else:
        s = _newton_root(u, beta, alpha, newton_steps)
        ok = torch.ones_like(u, dtype=torch.bool)
    better = shrink_objective(s, u, beta, alpha) < 0.5 * beta * u * u
    return s, ok & better


@functools.lru_cache(maxsize=256)
def shrink_threshold(beta: float, alpha: float, newton_steps: int = 4) -> float:
    """The smallest ``|v|`` whose shrinkage is not 0 (α < 1).

    ``E(u) = min_s [s^α + (β/2)(s − u)²] − (β/2)u²`` has ``dE/du = −β s*(u) < 0``
    (envelope theorem), so the admissible candidate beats ``w = 0`` exactly above one
    threshold; found once per (β, α) by bisection in float64 on the same formulas.
    """
    lo, hi = 0.0, 1.0
    one = lambda v: _candidate(torch.tensor([v], dtype=torch.float64), beta, alpha, newton_steps)[1].item()  # noqa: E731
    while not one(hi):
        lo, hi = hi, 2.0 * hi
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if one(mid) else (mid, hi)
    return hi


def _shrink_values(v: Tensor, beta: float, alpha: float, newton_steps: int) -> Tensor:
    """The w-step without autograd (chunked, in place; see :func:`hyper_laplacian_shrink`)."""
    v = v.detach()
    dtype = v.dtype
    if dtype not in (torch.float32, torch.float64):
        v = v.float()
    if alpha == 1.0:
        s = (v.abs() - 1.0 / beta).clamp_min_(0.0)
        return torch.copysign(s, v, out=s).to(dtype)
    thr = shrink_threshold(float(beta), float(alpha), int(newton_steps))
    flat = v.contiguous().reshape(-1)
    out = torch.zeros_like(flat)
    # cache-sized chunks: the ~15 element-wise passes of the root formula then run from cache,
    # and a chunk with no element above the threshold costs one max
    for start in range(0, flat.numel(), CHUNK):
        vc = flat[start : start + CHUNK]
        uc = vc.abs()
        if float(uc.max()) < thr:
            continue
        if abs(alpha - 0.5) < 1e-12:
            sc = _half_root(uc, beta)
        elif abs(alpha - 2.0 / 3.0) < 1e-12:
            sc = _two_thirds_root(uc, beta)
        else:
            sc = _newton_root(uc, beta, alpha, newton_steps)
        sc.masked_fill_(uc < thr, 0.0)
        torch.copysign(sc, vc, out=out[start : start + CHUNK])
    return out.reshape(v.shape).to(dtype)


def shrink_derivative(w: Tensor, beta: float, alpha: float) -> Tensor:
    """``dw*/dv`` of the w-step at its solution ``w`` (implicit function theorem on the
    stationarity condition ``α s^{α−1} + β(s − u) = 0``, ``s = |w|``):
    ``β / (β + α(α − 1) s^{α−2})`` where ``w ≠ 0`` (positive: ``s`` is a local minimum),
    0 where ``w = 0``; 1 (``α = 1``) where ``w ≠ 0``. The jump at the threshold is a
    measure-zero set and has no derivative (the a.e. derivative is returned)."""
    s = w.abs()
    nz = s > 0
    if alpha == 1.0:
        return nz.to(w.dtype)
    curv = alpha * (alpha - 1.0) * s.clamp_min(torch.finfo(w.dtype).tiny).pow(alpha - 2.0)
    d = beta / (beta + curv).clamp_min(beta * 1e-6)
    return torch.where(nz, d, torch.zeros_like(d))


class _Shrink(torch.autograd.Function):
    """The w-step with its exact a.e. derivative (:func:`shrink_derivative`)."""

    @staticmethod
    def forward(ctx, v: Tensor, beta: float, alpha: float, newton_steps: int) -> Tensor:  # type: ignore[override]
        w = _shrink_values(v, beta, alpha, newton_steps)
        ctx.save_for_backward(w)
        ctx.beta, ctx.alpha = beta, alpha
        return w

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        (w,) = ctx.saved_tensors
        return g * shrink_derivative(w, ctx.beta, ctx.alpha), None, None, None


def hyper_laplacian_shrink(v: Tensor, beta: float, alpha: float, newton_steps: int = 4) -> Tensor:
    """``argmin_w |w|^α + (β/2)(w − v)²`` element-wise (see the module docstring).

    Args:
        v: any shape, float32 or float64 (computed in that precision).
        beta: the HQS penalty weight β > 0.
        alpha: the prior exponent, 0 < α ≤ 1 (1/2 and 2/3 are solved exactly).
        newton_steps: Newton iterations for other α.

    Returns:
        ``w`` with the shape and dtype of ``v``. Differentiable when ``v`` requires grad
        (and grad mode is on): the backward multiplies by :func:`shrink_derivative`;
        otherwise computed in place in cache-sized chunks with no graph.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if torch.is_grad_enabled() and v.requires_grad:
        return _Shrink.apply(v, float(beta), float(alpha), int(newton_steps))
    return _shrink_values(v, beta, alpha, newton_steps)

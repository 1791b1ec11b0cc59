"""Element-wise hyper-Laplacian shrinkage: the w-step of Krishnan & Fergus (NIPS 2009).

Solves, for every element ``v`` of a tensor,

    w* = argmin_w |w|^α + (β/2)(w − v)²                                      (KF09 Eq. 5)

* α = 1: soft threshold, ``w = sign(v) · max(|v| − 1/β, 0)``;
* α = 1/2: for ``u = |v| > 0`` a minimiser ``w = sign(v)·s`` with ``s > 0`` satisfies
  ``(1/2) s^{−1/2} + β(s − u) = 0`` ⇔ ``s³ − 2u s² + u² s − 1/(4β²) = 0`` (KF09 Eq. 11);
  the admissible root lies in ``(2u/3, u)``;
* α = 2/3: ``s⁴ − 3u s³ + 3u² s² − u³ s + 8/(27β³) = 0`` (KF09 Eq. 12), root in ``(u/2, u)``;
* other α: Newton steps on ``α s^{α−1} + β(s − u) = 0`` from ``s = u`` (KF09 §4).

In every case the candidate is kept only if its objective is lower than at ``w = 0``.
The roots are evaluated analytically per element (Cardano for the cubic, Ferrari for the
quartic, in complex128); the authors' CPU code uses a look-up table instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["beta_schedule", "hyper_laplacian_shrink", "shrink_objective"]


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


def _cbrt(z: Tensor) -> Tensor:
    """Principal complex cube root."""
    return torch.where(z == 0, torch.zeros_like(z), torch.exp(torch.log(z) / 3.0))


def _depressed_cubic_roots(p: Tensor, q: Tensor) -> Tensor:
    """The three complex roots of ``t³ + p t + q = 0`` (Cardano), stacked on the last dim."""
    p, q = p.to(torch.complex128), q.to(torch.complex128)
    s = torch.sqrt((q / 2) ** 2 + (p / 3) ** 3)
    c3a, c3b = -q / 2 + s, -q / 2 - s
    c3 = torch.where(c3a.abs() >= c3b.abs(), c3a, c3b)  # the larger one avoids cancellation
    C = _cbrt(c3)
    omega = complex(-0.5, math.sqrt(3.0) / 2.0)
    roots = []
    for k in range(3):
        Ck = C * omega**k
        safe = torch.where(Ck == 0, torch.ones_like(Ck), Ck)
        roots.append(torch.where(Ck == 0, torch.zeros_like(Ck), Ck - p / (3 * safe)))
    return torch.stack(roots, dim=-1)


def _depressed_quartic_roots(p: Tensor, q: Tensor, r: Tensor) -> Tensor:
    """The four complex roots of ``t⁴ + p t² + q t + r = 0`` (Ferrari), for ``q ≠ 0``.

    ``m`` solves the resolvent ``8m³ + 8p m² + (2p² − 8r) m − q² = 0`` (the root of largest
    modulus, non-zero since ``q ≠ 0``); then ``t = (±₁√(2m) ±₂ √(−(2p + 2m ±₁ 2q/√(2m))))/2``.
    """
    p, q, r = p.to(torch.complex128), q.to(torch.complex128), r.to(torch.complex128)
    # resolvent m³ + p m² + (p²/4 − r) m − q²/8 = 0, depressed by m = z − p/3
    a2, a1, a0 = p, p**2 / 4 - r, -(q**2) / 8
    pp = a1 - a2**2 / 3
    qq = 2 * a2**3 / 27 - a2 * a1 / 3 + a0
    ms = _depressed_cubic_roots(pp, qq) - (a2 / 3)[..., None]
    idx = ms.abs().argmax(dim=-1, keepdim=True)
    m = torch.gather(ms, -1, idx).squeeze(-1)
    s = torch.sqrt(2 * m)
    roots = []
    for sign in (1.0, -1.0):
        inner = torch.sqrt(-(2 * p + 2 * m + sign * 2 * q / s))
        roots.append((sign * s + inner) / 2)
        roots.append((sign * s - inner) / 2)
    return torch.stack(roots, dim=-1)


def _best_real_root(roots: Tensor, u: Tensor, beta: float, alpha: float, lo: Tensor, hi: Tensor) -> Tensor:
    """Among the (nearly) real roots in ``[lo, hi]`` pick the one of lowest objective; else 0."""
    tol = 1e-6 * (1.0 + u[..., None])
    real = roots.real
    ok = (roots.imag.abs() <= tol) & (real >= lo[..., None] - tol) & (real <= hi[..., None] + tol)
    cand = real.clamp_min(0.0)
    obj = torch.where(ok, shrink_objective(cand, u[..., None], beta, alpha), torch.full_like(cand, math.inf))
    best = obj.argmin(dim=-1, keepdim=True)
    s = torch.gather(cand, -1, best).squeeze(-1)
    return torch.where(torch.isfinite(torch.gather(obj, -1, best).squeeze(-1)), s, torch.zeros_like(s))


def hyper_laplacian_shrink(v: Tensor, beta: float, alpha: float, newton_steps: int = 4) -> Tensor:
    """``argmin_w |w|^α + (β/2)(w − v)²`` element-wise (see the module docstring).

    Args:
        v: any shape, float.
        beta: the HQS penalty weight β > 0.
        alpha: the prior exponent, 0 < α ≤ 1 (1/2 and 2/3 are solved in closed form).
        newton_steps: Newton iterations for other α.

    Returns:
        ``w`` with the shape and dtype of ``v``.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    dtype = v.dtype
    u = v.detach().abs().to(torch.float64)
    if alpha == 1.0:
        s = (u - 1.0 / beta).clamp_min(0.0)
    elif abs(alpha - 0.5) < 1e-12:
        # s³ − 2u s² + u² s − 1/(4β²) = 0, shifted by s = t + 2u/3
        p = -(u**2) / 3
        q = 2 * u**3 / 27 - 1.0 / (4 * beta**2)
        roots = _depressed_cubic_roots(p, q) + (2 * u / 3)[..., None]
        s = _best_real_root(roots, u, beta, alpha, 2 * u / 3, u)
    elif abs(alpha - 2.0 / 3.0) < 1e-12:
        # s⁴ − 3u s³ + 3u² s² − u³ s + 8/(27β³) = 0, shifted by s = t + 3u/4
        p = -3 * u**2 / 8
        q = u**3 / 8
        r = -3 * u**4 / 256 + 8.0 / (27 * beta**3)
        safe_q = torch.where(q == 0, torch.ones_like(q), q)
        roots = _depressed_quartic_roots(p, safe_q, r) + (3 * u / 4)[..., None]
        s = _best_real_root(roots, u, beta, alpha, u / 2, u)
        s = torch.where(u == 0, torch.zeros_like(s), s)
    else:
        s = u.clone()
        for _ in range(newton_steps):
            sp = s.clamp_min(1e-30)
            f = alpha * sp.pow(alpha - 1) + beta * (sp - u)
            df = alpha * (alpha - 1) * sp.pow(alpha - 2) + beta
            step = torch.where(df > 0, f / df, torch.zeros_like(f))
            s = (s - step).clamp(0.0, None)
            s = torch.minimum(s, u)
    w = torch.sign(v.detach()).to(torch.float64) * s
    keep = shrink_objective(w, v.detach().to(torch.float64), beta, alpha) < shrink_objective(
        torch.zeros_like(w), v.detach().to(torch.float64), beta, alpha
    )
    return torch.where(keep, w, torch.zeros_like(w)).to(dtype)

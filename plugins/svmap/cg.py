"""(Preconditioned) conjugate gradient over a linear-operator callable.

Used by every solver of the ``svmap`` plugin (Levin IRLS, SVMAP, SIMAP, the CG x-step of
HQS). Many systems are solved at once: the inner products that give the CG step sizes are
taken over ``dims`` only — the spatial dimensions for operators that act on every
``(b, c)`` plane independently (Levin's per-channel MATLAB code), or channels and space
for colour-mixing operators — so the systems never mix.

Hand-written rather than taken from a library because the solvers need (a) a fixed
number of iterations with no tolerance stop (Levin's ``deconvL2_w.m``; SVMAP spec §1.3)
or a per-system relative-residual stop, (b) batched per-system step sizes, (c) an
optional preconditioner (a circulant one applied by FFT, :class:`CirculantPreconditioner`)
and (d) differentiability through the unrolled steps for SVMAP training;
``scipy.sparse.linalg.cg`` offers none of these on torch tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["CGResult", "CirculantPreconditioner", "conjugate_gradient"]


@dataclass
class CGResult:
    """Result of :func:`conjugate_gradient`.

    Attributes:
        x: the final iterate, same shape as ``b``.
        residual_norms: ``‖b − A x_k‖₂`` per iteration ``k = 0 … iterations`` (only when
            ``track=True``), each of the shape of ``b`` reduced over ``dims``.
        iterates: the iterates ``x_0 … x_K`` (only when ``keep_iterates=True``).
        iterations: the number of CG steps taken (smaller than asked when every system met
            ``rtol``).
    """

    x: Tensor
    residual_norms: list[Tensor] = field(default_factory=list)
    iterates: list[Tensor] = field(default_factory=list)
    iterations: int = 0


def conjugate_gradient(
    apply_A: Callable[[Tensor], Tensor],
    b: Tensor,
    x0: Tensor | None = None,
    iterations: int = 30,
    track: bool = False,
    keep_iterates: bool = False,
    preconditioner: Callable[[Tensor], Tensor] | None = None,
    dims: Sequence[int] = (-2, -1),
    rtol: float = 0.0,
) -> CGResult:
    """Solve ``A x = b`` for a symmetric positive (semi-)definite ``A`` by (P)CG.

    Hestenes–Stiefel CG, preconditioned by ``M⁻¹`` when given (``z = M⁻¹ r``; plain CG
    for ``M = I``)::

        r_0 = b − A x_0,  z_0 = M⁻¹ r_0,  p_0 = z_0
        α_k = ⟨r_k, z_k⟩ / ⟨p_k, A p_k⟩
        x_{k+1} = x_k + α_k p_k,  r_{k+1} = r_k − α_k A p_k,  z_{k+1} = M⁻¹ r_{k+1}
        β_k = ⟨r_{k+1}, z_{k+1}⟩ / ⟨r_k, z_k⟩,  p_{k+1} = z_{k+1} + β_k p_k

    Args:
        apply_A: ``x → A x`` of the same shape; must act on every system (slice over the
            dimensions not in ``dims``) independently.
        b: right-hand side, e.g. ``(B, C, H, W)``.
        x0: warm start (defaults to zeros).
        iterations: the maximum number of CG steps (≥ 0); exactly this many when
            ``rtol == 0``.
        track: record ``‖b − A x_k‖`` (the recursively updated residual) per step.
        keep_iterates: keep every iterate (for tests of the A-norm error decrease).
        preconditioner: ``r → M⁻¹ r``, symmetric positive definite, acting per system.
        dims: the dimensions of one system (inner products are summed over them).
        rtol: stop a system once ``‖r_k‖ ≤ rtol·‖b‖`` (its iterate is frozen); the loop
            ends when every system has. ``0``: no tolerance stop.

    Returns:
        :class:`CGResult`. Systems whose residual reaches exactly zero stop moving (the
        step sizes are guarded against 0/0), so a converged system stays converged.
        The computation is differentiable with respect to ``b``, ``x0`` and anything
        ``apply_A`` depends on (use ``rtol = 0`` when differentiating, so that the number
        of steps does not depend on the data).
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    dims = tuple(dims)

    def dot(u: Tensor, v: Tensor) -> Tensor:
        return (u * v).sum(dim=dims, keepdim=True)

    precond = preconditioner if preconditioner is not None else (lambda r: r)
    x = torch.zeros_like(b) if x0 is None else x0
    r = b - apply_A(x) if x0 is not None else b.clone()
    z = precond(r)
    p = z
    rz = dot(r, z)
    tiny = torch.finfo(b.dtype).tiny
    result = CGResult(x=x)
    bound = None
    if rtol > 0:
        bound = (rtol**2) * dot(b, b)
    if track:
        result.residual_norms.append(dot(r, r).detach().sqrt().squeeze())
    if keep_iterates:
        result.iterates.append(x.detach().clone())
    done = None if bound is None else (dot(r, r) <= bound)
    if done is not None and bool(done.all()):
        result.x = x
        return result
    for k in range(iterations):
        Ap = apply_A(p)
        pAp = dot(p, Ap)
        active = (rz > 0) & (pAp > 0)
        if done is not None:
            active = active & ~done
        alpha = torch.where(active, rz / torch.where(active, pAp, torch.ones_like(pAp)), torch.zeros_like(rz))
        x = x + alpha * p
        r = r - alpha * Ap
        z = precond(r)
        rz_new = dot(r, z)
        beta = torch.where(rz > tiny, rz_new / rz.clamp_min(tiny), torch.zeros_like(rz))
        p = z + beta * p
        rz = rz_new
        result.iterations = k + 1
        if track:
            result.residual_norms.append(dot(r, r).detach().sqrt().squeeze())
        if keep_iterates:
            result.iterates.append(x.detach().clone())
        if done is not None:
            done = done | (dot(r, r) <= bound)
            if bool(done.all()):
                break
    result.x = x
    return result


def _fast_len(n: int) -> int:
    return int(scipy.fft.next_fast_len(int(n), real=True))


class CirculantPreconditioner:
    """``M⁻¹ r = Eᵀ F⁻¹[ F(E r) / S ]``: division by a positive DFT symbol ``S``.

    ``E`` zero-extends the ``H × W`` residual to a fast FFT size ``(H_f, W_f)`` (``E = I``
    when ``circular`` or when the sizes are already fast), so ``M⁻¹`` is a compression of
    a symmetric positive-definite circulant and therefore symmetric positive definite —
    a valid CG preconditioner whatever ``S`` is, as long as it is positive.

    Args:
        symbol: a callable ``(H_f, W_f) → S`` ``(…, H_f, W_f // 2 + 1)`` real and > 0,
            broadcasting against ``rfft2`` of the residual; it is evaluated once.
        size: ``(H, W)`` of the residuals.
        circular: use the ``H × W`` grid itself (exact for circulant systems).
    """

    def __init__(self, symbol: Callable[[tuple[int, int]], Tensor], size: tuple[int, int], circular: bool = False) -> None:
        self.H, self.W = int(size[0]), int(size[1])
        self.Hf, self.Wf = (self.H, self.W) if circular else (_fast_len(self.H), _fast_len(self.W))
        self.inv = 1.0 / symbol((self.Hf, self.Wf))

    def __call__(self, r: Tensor) -> Tensor:
        if (self.Hf, self.Wf) != (self.H, self.W):
            r = F.pad(r, (0, self.Wf - self.W, 0, self.Hf - self.H))
        z = torch.fft.irfft2(torch.fft.rfft2(r) * self.inv, s=(self.Hf, self.Wf))
        return z[..., : self.H, : self.W]

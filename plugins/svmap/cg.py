"""Plain (unpreconditioned) conjugate gradient over a linear-operator callable.

Used by every solver of the ``svmap`` plugin (Levin IRLS, SVMAP, SIMAP). The system is
solved independently for every image of the batch and every colour channel: the inner
products that give the CG step sizes are taken over the spatial dimensions only, so the
``(B, C)`` systems never mix (as in Levin's per-channel MATLAB code).

Hand-written rather than taken from a library because the solvers need (a) a fixed
number of iterations with no tolerance stop (Levin's ``deconvL2_w.m``; SVMAP spec §1.3),
(b) batched per-channel step sizes, and (c) differentiability through the unrolled steps
for SVMAP training; ``scipy.sparse.linalg.cg`` offers none of these on torch tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

__all__ = ["CGResult", "conjugate_gradient"]


@dataclass
class CGResult:
    """Result of :func:`conjugate_gradient`.

    Attributes:
        x: the final iterate, same shape as ``b``.
        residual_norms: ``‖b − A x_k‖₂`` per iteration ``k = 0 … iterations`` (only when
            ``track=True``), each of shape ``(B, C)``.
        iterates: the iterates ``x_0 … x_K`` (only when ``keep_iterates=True``).
    """

    x: Tensor
    residual_norms: list[Tensor] = field(default_factory=list)
    iterates: list[Tensor] = field(default_factory=list)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-system inner product over the spatial dims: ``(B, C, H, W) → (B, C, 1, 1)``."""
    return (a * b).sum(dim=(-2, -1), keepdim=True)


def conjugate_gradient(
    apply_A: Callable[[Tensor], Tensor],
    b: Tensor,
    x0: Tensor | None = None,
    iterations: int = 30,
    track: bool = False,
    keep_iterates: bool = False,
) -> CGResult:
    """Solve ``A x = b`` for a symmetric positive (semi-)definite ``A`` by plain CG.

    Hestenes–Stiefel CG with exactly ``iterations`` steps (no tolerance stop)::

        r_0 = b − A x_0,  p_0 = r_0
        α_k = ⟨r_k, r_k⟩ / ⟨p_k, A p_k⟩
        x_{k+1} = x_k + α_k p_k,  r_{k+1} = r_k − α_k A p_k
        β_k = ⟨r_{k+1}, r_{k+1}⟩ / ⟨r_k, r_k⟩,  p_{k+1} = r_{k+1} + β_k p_k

    Args:
        apply_A: ``x (B, C, H, W) → A x`` of the same shape; must act on every ``(b, c)``
            slice independently.
        b: right-hand side ``(B, C, H, W)``.
        x0: warm start (defaults to zeros).
        iterations: number of CG steps (≥ 0).
        track: record ``‖b − A x_k‖`` (the recursively updated residual) per step.
        keep_iterates: keep every iterate (for tests of the A-norm error decrease).

    Returns:
        :class:`CGResult`. Systems whose residual reaches exactly zero stop moving (the
        step sizes are guarded against 0/0), so a converged system stays converged.
        The computation is differentiable with respect to ``b``, ``x0`` and anything
        ``apply_A`` depends on.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    x = torch.zeros_like(b) if x0 is None else x0
    r = b - apply_A(x) if x0 is not None else b.clone()
    p = r
    rr = _dot(r, r)
    tiny = torch.finfo(b.dtype).tiny
    result = CGResult(x=x)
    if track:
        result.residual_norms.append(rr.detach().sqrt().flatten(-2).squeeze(-1))
    if keep_iterates:
        result.iterates.append(x.detach().clone())
    for _ in range(iterations):
        Ap = apply_A(p)
        pAp = _dot(p, Ap)
        active = (rr > 0) & (pAp > 0)
        alpha = torch.where(active, rr / torch.where(active, pAp, torch.ones_like(pAp)), torch.zeros_like(rr))
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = _dot(r, r)
        beta = torch.where(rr > tiny, rr_new / rr.clamp_min(tiny), torch.zeros_like(rr))
        p = r + beta * p
        rr = rr_new
        if track:
            result.residual_norms.append(rr.detach().sqrt().flatten(-2).squeeze(-1))
        if keep_iterates:
            result.iterates.append(x.detach().clone())
    result.x = x
    return result

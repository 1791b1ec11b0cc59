"""Triton: per-pixel (spatially variant) filters — fused gather apply and its exact adjoint.

Same signatures and results as :func:`restorekit.kernels.reference.pixel_filter_apply` and
:func:`restorekit.kernels.reference.pixel_filter_adjoint` (operators_and_kernels.md §3),
zero padding, ``c = s//2``, ``σ = +1`` (correlation) or ``−1`` (``convolution=True``):

    apply:    y[b,ch,p]  = Σ_{u,v} f[b,cf,u·s+v,p] · x[b,ch,p + σ(u−c, v−c)]
    adjoint:  x̃[b,ch,p] = Σ_{u,v} f[b,cf,u·s+v,p − σ(u−c, v−c)] · y[b,ch,p − σ(u−c, v−c)]

(``cf = ch``, or 0 for filters shared by the colours). Both are a single gather kernel:
the unfold, the multiply and the sum over s² are fused, so neither the (B, C·s², HW)
unfolded image nor the folded canvas is ever written (§6.3: traffic s² + 2 instead of
3s² + 1 floats per pixel). The adjoint is written as a gather too (each output pixel
collects the s² contributions scattered onto it), so it needs no atomics.

Autograd: ``∂apply/∂x = adjoint``, ``∂adjoint/∂y = apply``, and both filter gradients are
the same fused kernel ``gf[b,cf,uv,p] = Σ_{ch∈cf} a[b,ch,p] · z[b,ch,p + σ(u−c, v−c)]``
with ``(a, z) = (g, x)`` for apply and ``(y, g)`` for the adjoint (⟨G, Fᵀy⟩ = ⟨FG, y⟩).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from .reference import _check_filters
from .triton_common import acc_dtype, check_device, jit

__all__ = ["pixel_filter_adjoint_triton", "pixel_filter_apply_triton", "pixel_filter_normal_triton"]

_BLOCK_H = 16
_BLOCK_W = 32


@jit
def _pf_gather_kernel(
    src_ptr, f_ptr, out_ptr, C, CF, H, W, S, F_BSTRIDE,
    SIGN: tl.constexpr, ADJOINT: tl.constexpr,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    """One (b, ch) plane × one output tile of ``apply`` (ADJOINT=False) or ``adjoint``."""
    pid = tl.program_id(0)
    b = pid // C
    ch = pid % C
    cf = ch % CF
    HW = H.to(tl.int64) * W  # s²·H·W can exceed 2³¹ (e.g. s = 39 at 4K)
    i = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    j = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    mask = (i < H) & (j < W)
    src = src_ptr + pid.to(tl.int64) * HW
    fb = f_ptr + b.to(tl.int64) * F_BSTRIDE + cf.to(tl.int64) * S * S * HW
    half = S // 2
    acc = tl.full([BLOCK_H, BLOCK_W], 0.0, ACC)
    for u in range(0, S):
        for v in range(0, S):
            if ADJOINT:
                si = i - SIGN * (u - half)
                sj = j - SIGN * (v - half)
            else:
                si = i + SIGN * (u - half)
                sj = j + SIGN * (v - half)
            m = mask & (si >= 0) & (si < H) & (sj >= 0) & (sj < W)
            val = tl.load(src + si * W + sj, mask=m, other=0.0).to(ACC)
            if ADJOINT:
                tap = tl.load(fb + (u * S + v) * HW + si * W + sj, mask=m, other=0.0).to(ACC)
            else:
                tap = tl.load(fb + (u * S + v) * HW + i * W + j, mask=m, other=0.0).to(ACC)
            acc += tap * val
    tl.store(out_ptr + pid.to(tl.int64) * HW + i * W + j, acc.to(out_ptr.dtype.element_ty), mask=mask)


@jit
def _pf_grad_filter_kernel(
    a_ptr, z_ptr, gf_ptr, C, CF, H, W, S,
    SIGN: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    """gf[b,cf,u·s+v,p] = Σ_{ch∈cf} a[b,ch,p] · z[b,ch,p + σ(u−c, v−c)] on one tile."""
    pid = tl.program_id(0)  # b * CF + cf
    b = pid // CF
    cf = pid % CF
    n_ch = C // CF
    HW = H.to(tl.int64) * W  # s²·H·W can exceed 2³¹ (e.g. s = 39 at 4K)
    i = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    j = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    mask = (i < H) & (j < W)
    half = S // 2
    out = gf_ptr + pid.to(tl.int64) * S * S * HW
    for u in range(0, S):
        for v in range(0, S):
            si = i + SIGN * (u - half)
            sj = j + SIGN * (v - half)
            m = mask & (si >= 0) & (si < H) & (sj >= 0) & (sj < W)
            acc = tl.full([BLOCK_H, BLOCK_W], 0.0, ACC)
            for k in range(0, n_ch):
                plane = (b * C + cf + k).to(tl.int64) * HW
                av = tl.load(a_ptr + plane + i * W + j, mask=mask, other=0.0).to(ACC)
                zv = tl.load(z_ptr + plane + si * W + sj, mask=m, other=0.0).to(ACC)
                acc += av * zv
            tl.store(out + (u * S + v) * HW + i * W + j, acc.to(gf_ptr.dtype.element_ty), mask=mask)


def _gather(src: Tensor, filters: Tensor, convolution: bool, adjoint: bool, blocks: tuple[int, int]) -> Tensor:
    b, c, h, w = src.shape
    fb, cf, ss, _, _ = filters.shape
    s = int(round(ss**0.5))
    out = torch.empty_like(src)
    grid = (b * c, triton.cdiv(h, blocks[0]), triton.cdiv(w, blocks[1]))
    _pf_gather_kernel[grid](
        src, filters, out, c, cf, h, w, s, 0 if fb == 1 else cf * ss * h * w,
        SIGN=-1 if convolution else 1, ADJOINT=adjoint,
        BLOCK_H=blocks[0], BLOCK_W=blocks[1], ACC=acc_dtype(src.dtype),
    )
    return out


def _grad_filters(a: Tensor, z: Tensor, filters: Tensor, convolution: bool, blocks: tuple[int, int]) -> Tensor:
    b, c, h, w = a.shape
    fb, cf, ss, _, _ = filters.shape
    s = int(round(ss**0.5))
    gf = torch.empty(b, cf, ss, h, w, device=a.device, dtype=a.dtype)
    grid = (b * cf, triton.cdiv(h, blocks[0]), triton.cdiv(w, blocks[1]))
    _pf_grad_filter_kernel[grid](
        a, z, gf, c, cf, h, w, s, SIGN=-1 if convolution else 1,
        BLOCK_H=blocks[0], BLOCK_W=blocks[1], ACC=acc_dtype(a.dtype),
    )
    if fb == 1 and b > 1:
        gf = gf.sum(dim=0, keepdim=True)
    return gf.to(filters.dtype)


class _PixelFilter(torch.autograd.Function):
    """``adjoint=False``: y = F x; ``adjoint=True``: x̃ = Fᵀ y (input named ``src`` for both)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, src: Tensor, filters: Tensor, convolution: bool,
                adjoint: bool, blocks: tuple[int, int]) -> Tensor:
        ctx.save_for_backward(src, filters)
        ctx.conf = (convolution, adjoint, blocks)
        return _gather(src, filters, convolution, adjoint, blocks)

    @staticmethod
    @once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: Tensor
                 ) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        src, filters = ctx.saved_tensors
        convolution, adjoint, blocks = ctx.conf
        g = grad_out.contiguous()
        g_src = _gather(g, filters, convolution, not adjoint, blocks) if ctx.needs_input_grad[0] else None
        g_f = None
        if ctx.needs_input_grad[1]:
            g_f = _grad_filters(src, g, filters, convolution, blocks) if adjoint else \
                _grad_filters(g, src, filters, convolution, blocks)
        return g_src, g_f, None, None, None


def _check(x: Tensor, filters: Tensor, x_name: str) -> Tensor:
    """The reference's shape/dtype/device checks, plus what Triton needs (accumulator
    dtype, a CUDA device unless interpreting); returns contiguous filters in x's dtype."""
    _check_filters(x, filters, x_name)
    acc_dtype(x.dtype)
    check_device("pixel filter (Triton)", x, filters)
    return filters.to(dtype=x.dtype).contiguous()


def pixel_filter_apply_triton(x: Tensor, filters: Tensor, convolution: bool = False, *,
                              block_h: int = _BLOCK_H, block_w: int = _BLOCK_W) -> Tensor:
    """Per-pixel filters, gather form, zero padding (see module doc), one fused kernel.

    Args:
        x: ``(B, C, H, W)``.
        filters: ``(B or 1, Cf, s·s, H, W)``, ``Cf ∈ {1, C}``, ``s`` odd.
        convolution: flip the taps (true convolution).
        block_h, block_w: tile shape (powers of two), a tuning knob.

    Returns:
        ``(B, C, H, W)``; differentiable in ``x`` and ``filters``.
    """
    f = _check(x, filters, "x")
    return _PixelFilter.apply(x.contiguous(), f, bool(convolution), False, (block_h, block_w))


def pixel_filter_adjoint_triton(y: Tensor, filters: Tensor, convolution: bool = False, *,
                                block_h: int = _BLOCK_H, block_w: int = _BLOCK_W) -> Tensor:
    """Exact adjoint in x of :func:`pixel_filter_apply_triton` (scatter side, as a gather).

    Args:
        y: ``(B, C, H, W)``.
        filters: ``(B or 1, Cf, s·s, H, W)``.
        convolution: as in :func:`pixel_filter_apply_triton`.
        block_h, block_w: tile shape (powers of two).

    Returns:
        ``(B, C, H, W)``; differentiable in ``y`` and ``filters``.
    """
    f = _check(y, filters, "y")
    return _PixelFilter.apply(y.contiguous(), f, bool(convolution), True, (block_h, block_w))


def pixel_filter_normal_triton(u: Tensor, filters: Tensor, weights: Tensor | None = None) -> Tensor:
    """``Σ_i F_iᵀ (w_i ⊙ F_i u)`` (:func:`restorekit.kernels.reference.pixel_filter_normal`)
    as the fused apply kernel then the fused adjoint kernel; ``u`` ``(B, 1, H, W)``,
    ``filters`` ``(B or 1, n, s·s, H, W)``, ``weights`` ``(B, n, H, W)`` or ``None``."""
    b, _, h, w = u.shape
    n = filters.shape[1]
    r = pixel_filter_apply_triton(u.expand(b, n, h, w), filters)
    if weights is not None:
        r = r * weights.to(r.dtype)
    return pixel_filter_adjoint_triton(r, filters).sum(dim=1, keepdim=True)

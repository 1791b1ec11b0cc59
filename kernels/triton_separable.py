"""Triton: separable 3-tap depthwise correlation with reflect padding (one RKR step).

``separable_conv3_reflect_triton(x, row_taps, col_taps)`` has exactly the signature and
semantics of :func:`restorekit.kernels.reference.separable_conv3_reflect`:

    y[b,c,i,j] = Σ_{u,v∈{0,1,2}} col[c,u] · row[c,v] · x[b,c,ρ_H(i+u−1),ρ_W(j+v−1)]

with ``ρ_N(−1) = 1``, ``ρ_N(N) = N−2`` (PyTorch ``reflect`` padding by 1, edge not
repeated), i.e. reflect-pad, a 1×3 valid row correlation, then a 3×1 valid column
correlation (NRKNet eq. 5, nrknet.md §1.2). Reflection is done by index arithmetic, so the
padded image is never written.

Backward (one kernel): ``grad_x = Aᵀ g`` evaluated as a *gather* — the transpose of the
reflect-padded correlation is a 3×3 correlation of ``g`` with position-dependent taps

    w_{−1}(p) = t2·[p ≥ 1] + t0·[p = 1],   w_0(p) = t1,   w_{+1}(p) = t0·[p+1 < N] + t2·[p = N−2]

per axis (the extra terms are the reflected margin folded back onto its mirror source,
``P_reflᵀ``) — and the tap gradients ``∂/∂row[v] = Σ g · Σ_u col[u] X_uv``,
``∂/∂col[u] = Σ g · Σ_v row[v] X_uv`` (``X_uv`` the shifted, reflected input) as per-tile
partial sums, reduced across tiles and the batch in PyTorch (deterministic).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from .triton_common import acc_dtype, add_combine, check_device, jit

__all__ = ["separable_conv3_reflect_triton"]

_BLOCK_H = 32
_BLOCK_W = 32


@jit
def _sep_fwd_kernel(
    x_ptr, row_ptr, col_ptr, y_ptr, C, H, W,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    """One (b, c) plane × one BLOCK_H×BLOCK_W output tile: 9 reflected loads, 9 MACs."""
    pid_bc = tl.program_id(0)
    c = pid_bc % C
    base = pid_bc.to(tl.int64) * H * W
    i = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    j = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    mask = (i < H) & (j < W)
    im = tl.abs(i - 1)  # ρ(i−1): −1 → 1
    ip = tl.where(i + 1 >= H, 2 * H - 3 - i, i + 1)  # ρ(i+1): H → H−2
    jm = tl.abs(j - 1)
    jp = tl.where(j + 1 >= W, 2 * W - 3 - j, j + 1)
    r0 = tl.load(row_ptr + c * 3 + 0).to(ACC)
    r1 = tl.load(row_ptr + c * 3 + 1).to(ACC)
    r2 = tl.load(row_ptr + c * 3 + 2).to(ACC)
    c0 = tl.load(col_ptr + c * 3 + 0).to(ACC)
    c1 = tl.load(col_ptr + c * 3 + 1).to(ACC)
    c2 = tl.load(col_ptr + c * 3 + 2).to(ACC)
    xb = x_ptr + base
    h0 = (r0 * tl.load(xb + im * W + jm, mask=mask, other=0.0).to(ACC)
          + r1 * tl.load(xb + im * W + j, mask=mask, other=0.0).to(ACC)
          + r2 * tl.load(xb + im * W + jp, mask=mask, other=0.0).to(ACC))
    h1 = (r0 * tl.load(xb + i * W + jm, mask=mask, other=0.0).to(ACC)
          + r1 * tl.load(xb + i * W + j, mask=mask, other=0.0).to(ACC)
          + r2 * tl.load(xb + i * W + jp, mask=mask, other=0.0).to(ACC))
    h2 = (r0 * tl.load(xb + ip * W + jm, mask=mask, other=0.0).to(ACC)
          + r1 * tl.load(xb + ip * W + j, mask=mask, other=0.0).to(ACC)
          + r2 * tl.load(xb + ip * W + jp, mask=mask, other=0.0).to(ACC))
    y = c0 * h0 + c1 * h1 + c2 * h2
    tl.store(y_ptr + base + i * W + j, y.to(y_ptr.dtype.element_ty), mask=mask)


@jit
def _sep_bwd_kernel(
    x_ptr, g_ptr, row_ptr, col_ptr, gx_ptr, part_ptr, C, H, W,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    """grad_x (gather form of Aᵀ, see module doc) and this tile's 6 tap-gradient sums.

    ``part_ptr`` is ``(B·C, n_tiles, 6)``: ``[∂row0, ∂row1, ∂row2, ∂col0, ∂col1, ∂col2]``.
    """
    pid_bc = tl.program_id(0)
    c = pid_bc % C
    base = pid_bc.to(tl.int64) * H * W
    n_tw = tl.num_programs(2)
    tile = tl.program_id(1) * n_tw + tl.program_id(2)
    n_tiles = tl.num_programs(1) * n_tw
    i = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    j = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    mask = (i < H) & (j < W)
    r0 = tl.load(row_ptr + c * 3 + 0).to(ACC)
    r1 = tl.load(row_ptr + c * 3 + 1).to(ACC)
    r2 = tl.load(row_ptr + c * 3 + 2).to(ACC)
    c0 = tl.load(col_ptr + c * 3 + 0).to(ACC)
    c1 = tl.load(col_ptr + c * 3 + 1).to(ACC)
    c2 = tl.load(col_ptr + c * 3 + 2).to(ACC)
    zero = tl.full([BLOCK_H, BLOCK_W], 0.0, ACC)
    one = zero + 1.0

    # ---- grad_x: position-dependent 3×3 gather of g (transpose incl. the reflect fold)
    wu = c2 * tl.where(i >= 1, one, zero) + c0 * tl.where(i == 1, one, zero)
    wd = c0 * tl.where(i + 1 < H, one, zero) + c2 * tl.where(i == H - 2, one, zero)
    wl = r2 * tl.where(j >= 1, one, zero) + r0 * tl.where(j == 1, one, zero)
    wr = r0 * tl.where(j + 1 < W, one, zero) + r2 * tl.where(j == W - 2, one, zero)
    gb = g_ptr + base
    mu = mask & (i >= 1)
    md = mask & (i + 1 < H)
    ml = j >= 1
    mr = j + 1 < W
    gu = (wl * tl.load(gb + (i - 1) * W + (j - 1), mask=mu & ml, other=0.0).to(ACC)
          + r1 * tl.load(gb + (i - 1) * W + j, mask=mu, other=0.0).to(ACC)
          + wr * tl.load(gb + (i - 1) * W + (j + 1), mask=mu & mr, other=0.0).to(ACC))
    gm = (wl * tl.load(gb + i * W + (j - 1), mask=mask & ml, other=0.0).to(ACC)
          + r1 * tl.load(gb + i * W + j, mask=mask, other=0.0).to(ACC)
          + wr * tl.load(gb + i * W + (j + 1), mask=mask & mr, other=0.0).to(ACC))
    gd = (wl * tl.load(gb + (i + 1) * W + (j - 1), mask=md & ml, other=0.0).to(ACC)
          + r1 * tl.load(gb + (i + 1) * W + j, mask=md, other=0.0).to(ACC)
          + wr * tl.load(gb + (i + 1) * W + (j + 1), mask=md & mr, other=0.0).to(ACC))
    gx = wu * gu + c1 * gm + wd * gd
    tl.store(gx_ptr + base + i * W + j, gx.to(gx_ptr.dtype.element_ty), mask=mask)

    # ---- tap gradients: products of g with the 9 reflected shifts of x, summed over the tile
    g = tl.load(gb + i * W + j, mask=mask, other=0.0).to(ACC)
    im = tl.abs(i - 1)
    ip = tl.where(i + 1 >= H, 2 * H - 3 - i, i + 1)
    jm = tl.abs(j - 1)
    jp = tl.where(j + 1 >= W, 2 * W - 3 - j, j + 1)
    xb = x_ptr + base
    x00 = tl.load(xb + im * W + jm, mask=mask, other=0.0).to(ACC)
    x01 = tl.load(xb + im * W + j, mask=mask, other=0.0).to(ACC)
    x02 = tl.load(xb + im * W + jp, mask=mask, other=0.0).to(ACC)
    x10 = tl.load(xb + i * W + jm, mask=mask, other=0.0).to(ACC)
    x11 = tl.load(xb + i * W + j, mask=mask, other=0.0).to(ACC)
    x12 = tl.load(xb + i * W + jp, mask=mask, other=0.0).to(ACC)
    x20 = tl.load(xb + ip * W + jm, mask=mask, other=0.0).to(ACC)
    x21 = tl.load(xb + ip * W + j, mask=mask, other=0.0).to(ACC)
    x22 = tl.load(xb + ip * W + jp, mask=mask, other=0.0).to(ACC)
    out = part_ptr + (pid_bc.to(tl.int64) * n_tiles + tile) * 6
    tl.store(out + 0, _tile_sum(g * (c0 * x00 + c1 * x10 + c2 * x20)))
    tl.store(out + 1, _tile_sum(g * (c0 * x01 + c1 * x11 + c2 * x21)))
    tl.store(out + 2, _tile_sum(g * (c0 * x02 + c1 * x12 + c2 * x22)))
    tl.store(out + 3, _tile_sum(g * (r0 * x00 + r1 * x01 + r2 * x02)))
    tl.store(out + 4, _tile_sum(g * (r0 * x10 + r1 * x11 + r2 * x12)))
    tl.store(out + 5, _tile_sum(g * (r0 * x20 + r1 * x21 + r2 * x22)))


@jit
def _tile_sum(v):
    """Sum of a 2-D tile (a scalar)."""
    return tl.reduce(tl.reduce(v, 1, add_combine), 0, add_combine)


def _grid(bc: int, h: int, w: int, block_h: int, block_w: int) -> tuple[int, int, int]:
    return (bc, triton.cdiv(h, block_h), triton.cdiv(w, block_w))


def _sep_forward(x: Tensor, row: Tensor, col: Tensor, block_h: int, block_w: int) -> Tensor:
    b, c, h, w = x.shape
    y = torch.empty_like(x)
    _sep_fwd_kernel[_grid(b * c, h, w, block_h, block_w)](
        x, row, col, y, c, h, w, BLOCK_H=block_h, BLOCK_W=block_w, ACC=acc_dtype(x.dtype)
    )
    return y


def _sep_backward(
    x: Tensor, g: Tensor, row: Tensor, col: Tensor, block_h: int, block_w: int
) -> tuple[Tensor, Tensor, Tensor]:
    b, c, h, w = x.shape
    grid = _grid(b * c, h, w, block_h, block_w)
    part_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    part = torch.empty(b * c, grid[1] * grid[2], 6, device=x.device, dtype=part_dtype)
    gx = torch.empty_like(x)
    _sep_bwd_kernel[grid](
        x, g, row, col, gx, part, c, h, w, BLOCK_H=block_h, BLOCK_W=block_w, ACC=acc_dtype(x.dtype)
    )
    taps = part.reshape(b, c, -1, 6).sum(dim=(0, 2))  # (C, 6)
    return gx, taps[:, :3].to(row.dtype), taps[:, 3:].to(col.dtype)


class _SeparableConv3Reflect(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, row: Tensor, col: Tensor,
                block_h: int, block_w: int) -> Tensor:
        ctx.save_for_backward(x, row, col)
        ctx.blocks = (block_h, block_w)
        return _sep_forward(x, row, col, block_h, block_w)

    @staticmethod
    @once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_y: Tensor
                 ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None, None]:
        x, row, col = ctx.saved_tensors
        gx, grow, gcol = _sep_backward(x, grad_y.contiguous(), row, col, *ctx.blocks)
        return (gx if ctx.needs_input_grad[0] else None,
                grow if ctx.needs_input_grad[1] else None,
                gcol if ctx.needs_input_grad[2] else None, None, None)


def _check_taps(taps: Tensor, channels: int, x: Tensor, name: str) -> Tensor:
    if not isinstance(taps, Tensor) or taps.dim() != 2 or taps.shape[-1] != 3 or taps.shape[0] not in (1, channels):
        shape = tuple(taps.shape) if isinstance(taps, Tensor) else type(taps).__name__
        raise ValueError(f"{name} must have shape ({channels}, 3) (one 3-tap filter per channel), got {shape}")
    if taps.device != x.device:
        raise ValueError(f"{name} is on {taps.device} but the image is on {x.device}; move both to the same device")
    return taps.to(dtype=x.dtype).expand(channels, 3).contiguous()


def check_image(x: Tensor, name: str) -> None:
    """(B, C, H, W) floating tensor with H, W >= 2 (reflect padding by 1 needs it)."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must have shape (B, C, H, W), got {shape}; add the missing batch/channel dimensions")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; convert it with .float()")
    if x.shape[-2] < 2 or x.shape[-1] < 2:
        raise ValueError(f"{name} has spatial size {tuple(x.shape[-2:])}; reflect padding by 1 needs H >= 2 and W >= 2")


def separable_conv3_reflect_triton(x: Tensor, row_taps: Tensor, col_taps: Tensor, *,
                                   block_h: int = _BLOCK_H, block_w: int = _BLOCK_W) -> Tensor:
    """Reflect-pad by 1, then a separable 3×3 depthwise correlation (rows, then columns).

    Same signature and result as :func:`restorekit.kernels.reference.separable_conv3_reflect`
    (see the module doc for the formula); differentiable in ``x`` and both tap sets.

    Args:
        x: ``(B, C, H, W)``, ``H, W >= 2``, float16/bfloat16/float32/float64.
        row_taps: ``(C, 3)`` or ``(1, 3)`` (shared): taps of the 1×3 row pass.
        col_taps: ``(C, 3)`` or ``(1, 3)``: taps of the 3×1 column pass.
        block_h, block_w: tile shape (powers of two); a tuning knob, not part of the semantics.

    Returns:
        ``(B, C, H, W)``, dtype of ``x``.
    """
    check_image(x, "x")
    c = x.shape[1]
    row = _check_taps(row_taps, c, x, "row_taps")
    col = _check_taps(col_taps, c, x, "col_taps")
    acc_dtype(x.dtype)
    check_device("separable_conv3_reflect_triton", x, row, col)
    return _SeparableConv3Reflect.apply(x.contiguous(), row, col, block_h, block_w)

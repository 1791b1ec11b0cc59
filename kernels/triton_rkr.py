"""Triton: the fused recursive-kernel-representation (RKR) operator, forward and backward.

``rkr_apply_triton(x, atoms, gamma, weight=None, bias=None)`` has exactly the signature and
result of :func:`restorekit.kernels.reference.rkr_apply` (NRKNet eq. 4/11, official
``FullRKR`` + ``SumLayer``; nrknet.md §1):

    B_0 = x,   B_r = A_r B_{r−1}  (A_r = separable_conv3_reflect(·, atoms[r−1], atoms[r−1]))
    y[:, c] = Σ_r Γ_r ⊙ B_r[:, c]                                        (weight is None)
    y[:, o] = Σ_r Σ_c' W[o, C·r + c'] · Γ_r ⊙ B_r[:, c'] + b[o]          (reference form)

**Forward, one kernel** (operators_and_kernels.md §6.1). Each program owns a T_H×T_W output
tile of one image and all its colours. It loads the x tile plus a halo of R pixels
(a P_H×P_W block, P = T + 2R, a power of two) as a (C, P_H, P_W) register tensor, runs the
R recursion steps on chip — 1-pixel shifts are ``tl.gather`` along an axis with index maps
that reflect about the *true image edge* at every step, exactly like the reference's
per-step reflect pad; the correct region shrinks by one pixel per step, so after R steps
the output tile is exact — and accumulates Γ_r ⊙ (W B_r) as it goes. Only x, Γ, W, b are
read and y written: the R intermediate images never reach global memory.

**Backward, one kernel** (§6.2), same tiling. Nothing but x, Γ, W, the upstream gradient
g and small per-tile partial sums touches global memory; the stack B_r is recomputed on
chip:

1. forward sweep: recompute B_r, write grad_Γ_r = Σ_c' (Wᵀg)_{r,c'} ⊙ B_r[c'] for the
   tile, and the tile's partial sums of grad_W[o, C·r+c'] = Σ g_o Γ_r B_r[c'];
2. reverse Horner sweep s_R = Γ_R ⊙ (Wᵀg)_R, s_{r−1} = Γ_{r−1} ⊙ (Wᵀg)_{r−1} + A_rᵀ s_r
   (A_rᵀ as a gather with position-dependent taps that fold the reflected margin back,
   see :mod:`.triton_separable`); grad_x = s_0. The atom gradient of step r is the tile
   sum of s_r ⊙ (1-pixel reflected shifts of the row/column passes of B_{r−1}). The
   forward order of B and the reverse order of s do not meet, so B_{r−1} is recomputed
   from the x tile (registers only): (our choice) steps are visited in segments of
   ≈ √R with the segment's bottom state kept as a register checkpoint, which costs
   R²/(2·SEG) + R·SEG/2 on-chip steps (95 for R = 21, vs 231 without checkpoints and
   21 for the forward) and stores no intermediate anywhere.

Partial sums (per tile) are reduced across tiles and the batch in PyTorch
(deterministic); grad_b = Σ g is a plain PyTorch reduction.

``rkr_apply_adjoint_triton(r, atoms, gamma, weight=None)`` mirrors
:func:`restorekit.kernels.reference.rkr_apply_adjoint` (D_linᵀ r, nrknet.md §1.3) with the
Horner sweep of the backward kernel; its own gradients follow from ⟨G, Dᵀr⟩ = ⟨D G, r⟩.
"""

from __future__ import annotations

import torch
import triton
from torch import Tensor
from torch.autograd.function import once_differentiable

from .triton_common import INTERPRET, acc_dtype, check_device, next_pow2
from .triton_rkr_device import _rkr_bwd_kernel, _rkr_fwd_kernel
from .triton_separable import check_image

__all__ = [
    "backward_recursion_steps",
    "backward_segment",
    "rkr_apply_adjoint_triton",
    "rkr_apply_triton",
    "rkr_block_size",
]


def rkr_block_size(r_steps: int, min_tile: int = 16) -> int:
    """Default block edge P = next power of two ≥ 2R + ``min_tile`` (output tile T = P − 2R).

    E.g. R = 21 → P = 64, T = 22 (halo read factor (64/22)² ≈ 8.5 on x and the recompute
    region); R = 4 → P = 32, T = 24.
    """
    return next_pow2(2 * r_steps + min_tile)


def backward_recursion_steps(r_steps: int, seg: int) -> int:
    """On-chip recursion steps the backward kernel spends per tile with segment length ``seg``.

    Forward sweep R, plus per segment (top first) the checkpoint B_{k0} (k0 steps) and
    each B_{r−1} of the segment from it (r−1−k0 steps).
    """
    total = r_steps
    r_hi = r_steps
    while r_hi > 0:
        k0 = max(r_hi - seg, 0)
        total += k0 + sum(r - 1 - k0 for r in range(k0 + 1, r_hi + 1))
        r_hi = k0
    return total


def backward_segment(r_steps: int) -> int:
    """Checkpoint segment length of the backward kernel: the one with fewest steps (≈ √R).

    E.g. R = 21 → 5: 95 steps per tile instead of 231 without checkpoints (forward: 21).
    """
    return min(range(1, r_steps + 1), key=lambda k: (backward_recursion_steps(r_steps, k), k))


def _blocks(r_steps: int, block: int | None) -> int:
    p = rkr_block_size(r_steps) if block is None else int(block)
    if p & (p - 1) or p <= 2 * r_steps:
        raise ValueError(f"RKR block size must be a power of two > 2R = {2 * r_steps}, got {p}")
    return p


def _num_warps(cp: int, p: int) -> int:
    return max(1, min(16, cp * p * p // 1024))


def _launch_fwd(x: Tensor, atoms: Tensor, gamma: Tensor, weight: Tensor | None, bias: Tensor | None,
                block: int) -> Tensor:
    b, c, h, w = x.shape
    r_steps = atoms.shape[0]
    c_out = c if weight is None else weight.shape[0]
    y = torch.empty(b, c_out, h, w, device=x.device, dtype=x.dtype)
    t = block - 2 * r_steps
    grid = (b, triton.cdiv(h, t), triton.cdiv(w, t))
    cp = next_pow2(c)
    _rkr_fwd_kernel[grid](
        x, atoms, gamma, x if weight is None else weight, x if bias is None else bias, y,
        c, c_out, h, w, r_steps,
        P_H=block, P_W=block, CP=cp, COP=next_pow2(c_out),
        HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None, ACC=acc_dtype(x.dtype),
        **({} if INTERPRET else {"num_warps": _num_warps(cp, block)}),
    )
    return y


def _launch_bwd(x: Tensor | None, atoms: Tensor, gamma: Tensor, weight: Tensor | None, g: Tensor,
                c: int, need_params: bool, block: int
                ) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
    """Returns (grad_x, grad_gamma, grad_weight, grad_atoms); the last three None unless need_params."""
    b, _, h, w = g.shape
    r_steps = atoms.shape[0]
    c_out = c if weight is None else weight.shape[0]
    t = block - 2 * r_steps
    grid = (b, triton.cdiv(h, t), triton.cdiv(w, t))
    n_tiles = grid[1] * grid[2]
    part_dtype = torch.float64 if g.dtype == torch.float64 else torch.float32
    dev = g.device
    gx = torch.empty(b, c, h, w, device=dev, dtype=g.dtype)
    if need_params:
        ggamma = torch.empty(b, r_steps + 1, h, w, device=dev, dtype=g.dtype)
        pa = torch.empty(b, n_tiles, r_steps, c, 3, device=dev, dtype=part_dtype)
        pw = torch.empty(b, n_tiles, c_out, c * (r_steps + 1), device=dev, dtype=part_dtype) if weight is not None else gx
    else:
        ggamma = pa = pw = gx  # unused placeholders
    cp = next_pow2(c)
    _rkr_bwd_kernel[grid](
        x if x is not None else g, atoms, gamma, g if weight is None else weight, g,
        gx, ggamma, pw, pa,
        c, c_out, h, w, r_steps, backward_segment(r_steps),
        P_H=block, P_W=block, CP=cp,
        HAS_WEIGHT=weight is not None, NEED_PARAMS=need_params, ACC=acc_dtype(g.dtype),
        **({} if INTERPRET else {"num_warps": _num_warps(cp, block)}),
    )
    if not need_params:
        return gx, None, None, None
    grad_atoms = pa.sum(dim=(0, 1)).to(atoms.dtype)
    grad_w = pw.sum(dim=(0, 1)).to(weight.dtype) if weight is not None else None
    return gx, ggamma, grad_w, grad_atoms


class _RKRApply(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, atoms: Tensor, gamma: Tensor,
                weight: Tensor | None, bias: Tensor | None, block: int) -> Tensor:
        ctx.save_for_backward(x, atoms, gamma, weight)
        ctx.block = block
        ctx.has_bias = bias is not None
        return _launch_fwd(x, atoms, gamma, weight, bias, block)

    @staticmethod
    @once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        x, atoms, gamma, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        need_params = any(need[1:4])
        g = grad_y.contiguous()
        gx = ggamma = gw = ga = None
        if need[0] or need_params:
            gx, ggamma, gw, ga = _launch_bwd(x, atoms, gamma, weight, g, x.shape[1], need_params, ctx.block)
        gb = g.sum(dim=(0, 2, 3)) if ctx.has_bias and need[4] else None
        return (gx if need[0] else None, ga if need[1] else None, ggamma if need[2] else None,
                gw if need[3] else None, gb, None)


class _RKRAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, r: Tensor, atoms: Tensor, gamma: Tensor,
                weight: Tensor | None, c: int, block: int) -> Tensor:
        ctx.save_for_backward(r, atoms, gamma, weight)
        ctx.block = block
        gx, _, _, _ = _launch_bwd(None, atoms, gamma, weight, r, c, False, block)
        return gx

    @staticmethod
    @once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        # L = <G, Dᵀ r> = <D G, r>: dL/dr = D_lin G, parameter gradients = those of D at
        # input G with upstream gradient r.
        r, atoms, gamma, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        g_in = grad_out.contiguous()
        gr = _launch_fwd(g_in, atoms, gamma, weight, None, ctx.block) if need[0] else None
        ga = ggamma = gw = None
        if any(need[1:4]):
            _, ggamma, gw, ga = _launch_bwd(g_in, atoms, gamma, weight, r, g_in.shape[1], True, ctx.block)
        return (gr, ga if need[1] else None, ggamma if need[2] else None, gw if need[3] else None, None, None)


# ---------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------


def _prepare(x: Tensor, atoms: Tensor, gamma: Tensor, weight: Tensor | None, bias: Tensor | None,
             c: int, x_name: str) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Validate (same rules as the reference) and bring parameters to x's dtype, full shapes."""
    check_image(x, x_name)
    acc_dtype(x.dtype)
    if not isinstance(atoms, Tensor) or atoms.dim() != 3 or atoms.shape[-1] != 3:
        shape = tuple(atoms.shape) if isinstance(atoms, Tensor) else type(atoms).__name__
        raise ValueError(f"atoms must have shape (R, C, 3) (3 taps per recursion step and colour), got {shape}")
    r_steps = atoms.shape[0]
    if r_steps < 1:
        raise ValueError("atoms must hold at least one recursion step (R >= 1)")
    if atoms.shape[1] not in (1, c):
        raise ValueError(f"atoms have {atoms.shape[1]} colour rows but the image space has {c} channels; "
                         f"use (R, {c}, 3) or (R, 1, 3)")
    if not isinstance(gamma, Tensor) or gamma.dim() != 4:
        raise ValueError("gamma must have shape (B, R+1, H, W)")
    if gamma.shape[1] != r_steps + 1:
        raise ValueError(f"gamma has {gamma.shape[1]} channels but {r_steps} recursion steps need "
                         f"R+1 = {r_steps + 1} (one coefficient map per term B_0..B_R)")
    if gamma.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"gamma has spatial size {tuple(gamma.shape[-2:])} but {x_name} has "
                         f"{tuple(x.shape[-2:])}; give one coefficient map per pixel")
    if gamma.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"gamma has batch size {gamma.shape[0]}, expected 1 or {x.shape[0]}")
    for name, t in (("atoms", atoms), ("gamma", gamma), ("weight", weight), ("bias", bias)):
        if t is not None and t.device != x.device:
            raise ValueError(f"{name} is on {t.device} but {x_name} is on {x.device}; move them to the same device")
    if weight is not None:
        if weight.dim() == 4 and weight.shape[-2:] == (1, 1):
            weight = weight[..., 0, 0]
        if weight.dim() != 2 or weight.shape[1] != c * (r_steps + 1):
            raise ValueError(f"weight must have shape (C_out, C*(R+1)) = (C_out, {c * (r_steps + 1)}) "
                             f"(kernel-major, colour-minor columns), got {tuple(weight.shape)}")
        weight = weight.to(dtype=x.dtype).contiguous()
    if bias is not None:
        if weight is None:
            raise ValueError("bias is only used together with weight (the plain sum has no bias); pass weight too")
        if bias.dim() != 1 or bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias must have shape ({weight.shape[0]},) (one per output channel), got {tuple(bias.shape)}")
        bias = bias.to(dtype=x.dtype).contiguous()
    atoms = atoms.to(dtype=x.dtype).expand(r_steps, c, 3).contiguous()
    gamma = gamma.to(dtype=x.dtype).expand(x.shape[0], r_steps + 1, *x.shape[-2:]).contiguous()
    return atoms, gamma, weight, bias


def rkr_apply_triton(x: Tensor, atoms: Tensor, gamma: Tensor, weight: Tensor | None = None,
                     bias: Tensor | None = None, *, block: int | None = None) -> Tensor:
    """The RKR operator, fused (see module doc); same contract as ``reference.rkr_apply``.

    Args:
        x: ``(B, C, H, W)``, ``H, W >= 2``.
        atoms: ``(R, C, 3)`` or ``(R, 1, 3)``: taps of step r (row and column pass).
        gamma: ``(B or 1, R+1, H, W)``: Γ_r, shared by colours.
        weight: ``None`` or ``(C_out, C·(R+1))`` (or a ``(C_out, C·(R+1), 1, 1)`` conv weight).
        bias: ``None`` or ``(C_out,)``; only with ``weight``.
        block: block edge P (power of two > 2R), a tuning knob; default :func:`rkr_block_size`.

    Returns:
        ``(B, C, H, W)`` without ``weight``, ``(B, C_out, H, W)`` with it; differentiable in
        x, atoms, gamma, weight and bias.
    """
    atoms, gamma, weight, bias = _prepare(x, atoms, gamma, weight, bias, x.shape[1] if isinstance(x, Tensor) and x.dim() == 4 else 0, "x")
    check_device("rkr_apply_triton", x, atoms, gamma, weight, bias)
    return _RKRApply.apply(x.contiguous(), atoms, gamma, weight, bias, _blocks(atoms.shape[0], block))


def rkr_apply_adjoint_triton(r: Tensor, atoms: Tensor, gamma: Tensor, weight: Tensor | None = None, *,
                             block: int | None = None) -> Tensor:
    """Adjoint in x of the linear part of :func:`rkr_apply_triton` (nrknet.md §1.3).

    Same contract as ``reference.rkr_apply_adjoint``: ``D_linᵀ r = s_0`` of the backward
    Horner recursion, evaluated on chip per tile (one kernel).

    Args:
        r: ``(B, C_out, H, W)`` (``(B, C, H, W)`` when ``weight is None``).
        atoms: ``(R, C, 3)`` or ``(R, 1, 3)``.
        gamma: ``(B or 1, R+1, H, W)``.
        weight: ``None`` or ``(C_out, C·(R+1))``; ``C`` is inferred from it.
        block: as in :func:`rkr_apply_triton`.

    Returns:
        ``(B, C, H, W)``; differentiable in r, atoms, gamma and weight.
    """
    check_image(r, "r")
    if weight is None:
        c = r.shape[1]
    else:
        wt = weight[..., 0, 0] if weight.dim() == 4 else weight
        if wt.dim() != 2 or not isinstance(atoms, Tensor) or atoms.dim() != 3 or wt.shape[1] % (atoms.shape[0] + 1):
            raise ValueError(f"weight must have shape (C_out, C*(R+1)), got {tuple(weight.shape)}")
        c = wt.shape[1] // (atoms.shape[0] + 1)
        if wt.shape[0] != r.shape[1]:
            raise ValueError(f"r has {r.shape[1]} channels but weight has {wt.shape[0]} output channels")
    atoms, gamma, weight, _ = _prepare(r, atoms, gamma, weight, None, c, "r")
    check_device("rkr_apply_adjoint_triton", r, atoms, gamma, weight)
    return _RKRAdjoint.apply(r.contiguous(), atoms, gamma, weight, c, _blocks(atoms.shape[0], block))

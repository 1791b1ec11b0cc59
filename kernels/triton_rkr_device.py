"""Triton device code of the fused RKR operator: the on-chip helpers and the forward and
backward kernels launched by :mod:`.triton_rkr` (which documents the algorithm, nrknet.md §1
and operators_and_kernels.md §6). Split out to keep each module readable."""

from __future__ import annotations

import triton.language as tl

from .triton_common import add_combine, jit

__all__ = ["_rkr_bwd_kernel", "_rkr_fwd_kernel"]

# ---------------------------------------------------------------------------------------
# on-chip helpers (all tensors are (CP, P_H, P_W): colour × rows × columns)
# ---------------------------------------------------------------------------------------


@jit
def _shift(v, idx, AXIS: tl.constexpr):
    """``v`` gathered along ``AXIS`` (1 = rows, 2 = columns) with the 2-D index map ``idx``."""
    return tl.gather(v, tl.broadcast_to(idx[None, :, :], v.shape), AXIS)


@jit
def _step(v, t0, t1, t2, lf, rt, up, dn):
    """One recursion step A_r v: 1×3 row correlation, then 3×1 column correlation, with the
    reflected neighbour maps ``lf/rt`` (columns) and ``up/dn`` (rows)."""
    h = t0 * _shift(v, lf, 2) + t1 * v + t2 * _shift(v, rt, 2)
    return t0 * _shift(h, up, 1) + t1 * h + t2 * _shift(h, dn, 1)


@jit
def _step_t(s, t0, t1, t2, um, dp, lm, rp, fu1, fu2, fd1, fd2, fl1, fl2, fr1, fr2):
    """One transposed step A_rᵀ s (reflect-pad adjoint included), as a gather with plain
    neighbours ``um/dp/lm/rp`` and position-dependent taps, e.g. along rows
    w_up(p) = t2·[p ≥ 1] + t0·[p = 1], w_down(p) = t0·[p+1 < H] + t2·[p = H−2]."""
    wu = t2 * fu1[None, :, :] + t0 * fu2[None, :, :]
    wd = t0 * fd1[None, :, :] + t2 * fd2[None, :, :]
    h = wu * _shift(s, um, 1) + t1 * s + wd * _shift(s, dp, 1)
    wl = t2 * fl1[None, :, :] + t0 * fl2[None, :, :]
    wr = t0 * fr1[None, :, :] + t2 * fr2[None, :, :]
    return wl * _shift(h, lm, 2) + t1 * h + wr * _shift(h, rp, 2)


@jit
def _sum_hw(v):
    """(CP, P_H, P_W) → (CP,): sum over the two spatial axes."""
    return tl.reduce(tl.reduce(v, 2, add_combine), 1, add_combine)


@jit
def _taps(atoms_ptr, r, cv, cmask, C, ACC: tl.constexpr):
    """Taps of recursion step r+1 for every colour, each (CP, 1, 1)."""
    base = atoms_ptr + (r * C + cv) * 3
    t0 = tl.load(base + 0, mask=cmask, other=0.0).to(ACC)[:, None, None]
    t1 = tl.load(base + 1, mask=cmask, other=0.0).to(ACC)[:, None, None]
    t2 = tl.load(base + 2, mask=cmask, other=0.0).to(ACC)[:, None, None]
    return t0, t1, t2


# ---------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------


@jit
def _rkr_fwd_kernel(
    x_ptr, atoms_ptr, gamma_ptr, w_ptr, bias_ptr, y_ptr,
    C, C_OUT, H, W, R,
    P_H: tl.constexpr, P_W: tl.constexpr, CP: tl.constexpr, COP: tl.constexpr,
    HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, ACC: tl.constexpr,
):
    """y tile = Σ_r Γ_r ⊙ (W B_r) (+ b), B_r recomputed on chip from the x tile + halo R."""
    b = tl.program_id(0)
    t_h = P_H - 2 * R
    t_w = P_W - 2 * R
    oi0 = tl.program_id(1) * t_h
    oj0 = tl.program_id(2) * t_w
    li = tl.arange(0, P_H)[:, None]
    lj = tl.arange(0, P_W)[None, :]
    gi = oi0 - R + li
    gj = oj0 - R + lj
    inimg = (gi >= 0) & (gi < H) & (gj >= 0) & (gj < W)
    own = inimg & (gi >= oi0) & (gi < oi0 + t_h) & (gj >= oj0) & (gj < oj0 + t_w)
    zi = tl.full([P_H, P_W], 0, tl.int32)
    # reflected neighbour maps (local indices; clamped where the value is never needed)
    up = zi + tl.minimum(tl.maximum(tl.abs(gi - 1) - (oi0 - R), 0), P_H - 1)
    dn = zi + tl.minimum(tl.maximum(tl.where(gi + 1 >= H, 2 * H - 3 - gi, gi + 1) - (oi0 - R), 0), P_H - 1)
    lf = zi + tl.minimum(tl.maximum(tl.abs(gj - 1) - (oj0 - R), 0), P_W - 1)
    rt = zi + tl.minimum(tl.maximum(tl.where(gj + 1 >= W, 2 * W - 3 - gj, gj + 1) - (oj0 - R), 0), P_W - 1)

    cv = tl.arange(0, CP)
    cmask = cv < C
    pix = gi * W + gj
    v = tl.load(x_ptr + (b * C + cv)[:, None, None].to(tl.int64) * H * W + pix[None, :, :],
                mask=cmask[:, None, None] & inimg[None, :, :], other=0.0).to(ACC)
    ov = tl.arange(0, COP)
    acc = tl.full([COP, P_H, P_W], 0.0, ACC)
    g_base = gamma_ptr + b.to(tl.int64) * (R + 1) * H * W
    for r in range(0, R + 1):
        if r > 0:
            t0, t1, t2 = _taps(atoms_ptr, r - 1, cv, cmask, C, ACC)
            v = _step(v, t0, t1, t2, lf, rt, up, dn)
        gam = tl.load(g_base + r * H * W + pix, mask=own, other=0.0).to(ACC)
        if HAS_WEIGHT:
            for o in range(0, C_OUT):
                wv = tl.load(w_ptr + o * C * (R + 1) + C * r + cv, mask=cmask, other=0.0).to(ACC)
                mixed = tl.reduce(wv[:, None, None] * v, 0, add_combine)
                acc += tl.where(ov == o, 1.0, 0.0).to(ACC)[:, None, None] * (gam * mixed)[None, :, :]
        else:
            acc += gam[None, :, :] * v
    if HAS_BIAS:
        acc += tl.load(bias_ptr + ov, mask=ov < C_OUT, other=0.0).to(ACC)[:, None, None]
    out = y_ptr + (b * C_OUT + ov)[:, None, None].to(tl.int64) * H * W + pix[None, :, :]
    tl.store(out, acc.to(y_ptr.dtype.element_ty), mask=(ov < C_OUT)[:, None, None] & own[None, :, :])


@jit
def _rkr_bwd_kernel(
    x_ptr, atoms_ptr, gamma_ptr, w_ptr, g_ptr,
    gx_ptr, ggamma_ptr, pw_ptr, pa_ptr,
    C, C_OUT, H, W, R, SEG,
    P_H: tl.constexpr, P_W: tl.constexpr, CP: tl.constexpr,
    HAS_WEIGHT: tl.constexpr, NEED_PARAMS: tl.constexpr, ACC: tl.constexpr,
):
    """Fused backward of one output tile (see module doc).

    Writes grad_x (= D_linᵀ g) on the tile; with ``NEED_PARAMS`` also grad_Γ on the tile,
    and this tile's partial sums ``pw[b, tile, o, C·r+c]`` (grad_W) and
    ``pa[b, tile, r, c, k]`` (grad_atoms).
    """
    b = tl.program_id(0)
    n_tw = tl.num_programs(2)
    tile = tl.program_id(1) * n_tw + tl.program_id(2)
    n_tiles = tl.num_programs(1) * n_tw
    t_h = P_H - 2 * R
    t_w = P_W - 2 * R
    oi0 = tl.program_id(1) * t_h
    oj0 = tl.program_id(2) * t_w
    li = tl.arange(0, P_H)[:, None]
    lj = tl.arange(0, P_W)[None, :]
    gi = oi0 - R + li
    gj = oj0 - R + lj
    inimg = (gi >= 0) & (gi < H) & (gj >= 0) & (gj < W)
    own = inimg & (gi >= oi0) & (gi < oi0 + t_h) & (gj >= oj0) & (gj < oj0 + t_w)
    zi = tl.full([P_H, P_W], 0, tl.int32)
    zf = tl.full([P_H, P_W], 0.0, ACC)
    up = zi + tl.minimum(tl.maximum(tl.abs(gi - 1) - (oi0 - R), 0), P_H - 1)
    dn = zi + tl.minimum(tl.maximum(tl.where(gi + 1 >= H, 2 * H - 3 - gi, gi + 1) - (oi0 - R), 0), P_H - 1)
    lf = zi + tl.minimum(tl.maximum(tl.abs(gj - 1) - (oj0 - R), 0), P_W - 1)
    rt = zi + tl.minimum(tl.maximum(tl.where(gj + 1 >= W, 2 * W - 3 - gj, gj + 1) - (oj0 - R), 0), P_W - 1)
    # plain neighbours and edge indicators for the transposed step
    um = zi + tl.maximum(li - 1, 0)
    dp = zi + tl.minimum(li + 1, P_H - 1)
    lm = zi + tl.maximum(lj - 1, 0)
    rp = zi + tl.minimum(lj + 1, P_W - 1)
    fu1 = tl.where(gi >= 1, 1.0, 0.0).to(ACC) + zf
    fu2 = tl.where(gi == 1, 1.0, 0.0).to(ACC) + zf
    fd1 = tl.where(gi + 1 < H, 1.0, 0.0).to(ACC) + zf
    fd2 = tl.where(gi == H - 2, 1.0, 0.0).to(ACC) + zf
    fl1 = tl.where(gj >= 1, 1.0, 0.0).to(ACC) + zf
    fl2 = tl.where(gj == 1, 1.0, 0.0).to(ACC) + zf
    fr1 = tl.where(gj + 1 < W, 1.0, 0.0).to(ACC) + zf
    fr2 = tl.where(gj == W - 2, 1.0, 0.0).to(ACC) + zf
    ownf = tl.where(own, 1.0, 0.0).to(ACC)[None, :, :]

    cv = tl.arange(0, CP)
    cmask = cv < C
    cm3 = cmask[:, None, None]
    pix = gi * W + gj
    HW = H * W
    chan_off = (b * C + cv)[:, None, None].to(tl.int64) * HW + pix[None, :, :]
    g_base = gamma_ptr + b.to(tl.int64) * (R + 1) * HW
    gout_base = g_ptr + b.to(tl.int64) * C_OUT * HW
    n_w = C * (R + 1)
    if NEED_PARAMS:
        x0 = tl.load(x_ptr + chan_off, mask=cm3 & inimg[None, :, :], other=0.0).to(ACC)
    if not HAS_WEIGHT:
        g3 = tl.load(g_ptr + chan_off, mask=cm3 & inimg[None, :, :], other=0.0).to(ACC)

    # ---- sweep 1 (forward order): grad_Γ and grad_W partial sums
    if NEED_PARAMS:
        v = x0
        for r in range(0, R + 1):
            if r > 0:
                t0, t1, t2 = _taps(atoms_ptr, r - 1, cv, cmask, C, ACC)
                v = _step(v, t0, t1, t2, lf, rt, up, dn)
            if HAS_WEIGHT:
                gam = tl.load(g_base + r * HW + pix, mask=own, other=0.0).to(ACC)
                u = tl.full([CP, P_H, P_W], 0.0, ACC)
                for o in range(0, C_OUT):
                    go = tl.load(gout_base + o * HW + pix, mask=own, other=0.0).to(ACC)
                    wv = tl.load(w_ptr + o * n_w + C * r + cv, mask=cmask, other=0.0).to(ACC)
                    u += wv[:, None, None] * go[None, :, :]
                    gw = _sum_hw((go * gam)[None, :, :] * v)
                    tl.store(pw_ptr + ((b * n_tiles + tile) * C_OUT + o).to(tl.int64) * n_w + C * r + cv,
                             gw, mask=cmask)
                ggam = tl.reduce(u * v, 0, add_combine)
            else:
                ggam = tl.reduce(g3 * v, 0, add_combine)
            tl.store(ggamma_ptr + b.to(tl.int64) * (R + 1) * HW + r * HW + pix,
                     ggam.to(ggamma_ptr.dtype.element_ty), mask=own)

    # ---- sweep 2 (reverse Horner): s_r = ∂L/∂B_r, atom gradients, grad_x = s_0
    gam = tl.load(g_base + R * HW + pix, mask=inimg, other=0.0).to(ACC)
    if HAS_WEIGHT:
        u = tl.full([CP, P_H, P_W], 0.0, ACC)
        for o in range(0, C_OUT):
            go = tl.load(gout_base + o * HW + pix, mask=inimg, other=0.0).to(ACC)
            wv = tl.load(w_ptr + o * n_w + C * R + cv, mask=cmask, other=0.0).to(ACC)
            u += wv[:, None, None] * go[None, :, :]
        s = gam[None, :, :] * u
    else:
        s = gam[None, :, :] * g3
    # Steps are visited in segments of SEG, top segment first; B_{k0} at the bottom of a
    # segment is recomputed from the x tile once (a register checkpoint), and each B_{r-1}
    # of the segment from that checkpoint: R²/(2·SEG) + R·SEG/2 recursion steps in all
    # instead of R²/2 (SEG ≈ √R).
    n_seg = (R + SEG - 1) // SEG
    for si in range(0, n_seg):
        r_hi = R - si * SEG
        k0 = tl.maximum(r_hi - SEG, 0)
        if NEED_PARAMS:
            ck = x0  # checkpoint B_{k0}
            for q in range(0, k0):
                q0, q1, q2 = _taps(atoms_ptr, q, cv, cmask, C, ACC)
                ck = _step(ck, q0, q1, q2, lf, rt, up, dn)
        for rr in range(0, r_hi - k0):
            r = r_hi - rr  # r = r_hi, ..., k0 + 1
            t0, t1, t2 = _taps(atoms_ptr, r - 1, cv, cmask, C, ACC)
            if NEED_PARAMS:
                z = ck  # B_{r-1}, recomputed on chip from the checkpoint
                for q in range(k0, r - 1):
                    q0, q1, q2 = _taps(atoms_ptr, q, cv, cmask, C, ACC)
                    z = _step(z, q0, q1, q2, lf, rt, up, dn)
                rowp = t0 * _shift(z, lf, 2) + t1 * z + t2 * _shift(z, rt, 2)
                colp = t0 * _shift(z, up, 1) + t1 * z + t2 * _shift(z, dn, 1)
                so = s * ownf
                d0 = _sum_hw(so * (_shift(rowp, up, 1) + _shift(colp, lf, 2)))
                d1 = _sum_hw(so * (rowp + colp))
                d2 = _sum_hw(so * (_shift(rowp, dn, 1) + _shift(colp, rt, 2)))
                pa = pa_ptr + (((b * n_tiles + tile) * R + (r - 1)) * C + cv).to(tl.int64) * 3
                tl.store(pa + 0, d0, mask=cmask)
                tl.store(pa + 1, d1, mask=cmask)
                tl.store(pa + 2, d2, mask=cmask)
            s = _step_t(s, t0, t1, t2, um, dp, lm, rp, fu1, fu2, fd1, fd2, fl1, fl2, fr1, fr2)
            gam = tl.load(g_base + (r - 1) * HW + pix, mask=inimg, other=0.0).to(ACC)
            if HAS_WEIGHT:
                u = tl.full([CP, P_H, P_W], 0.0, ACC)
                for o in range(0, C_OUT):
                    go = tl.load(gout_base + o * HW + pix, mask=inimg, other=0.0).to(ACC)
                    wv = tl.load(w_ptr + o * n_w + C * (r - 1) + cv, mask=cmask, other=0.0).to(ACC)
                    u += wv[:, None, None] * go[None, :, :]
                s += gam[None, :, :] * u
            else:
                s += gam[None, :, :] * g3
    tl.store(gx_ptr + chan_off, s.to(gx_ptr.dtype.element_ty), mask=cm3 & own[None, :, :])


# ---------------------------------------------------------------------------------------
# launchers
# ---------------------------------------------------------------------------------------

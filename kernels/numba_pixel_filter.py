"""CPU kernels (Numba) for per-pixel filter banks: the fused normal operator and the tap layout.

A bank of ``n`` per-pixel filters ``F_i`` of size ``s × s`` (gather form, zero padding,
``c = s // 2``; operators_and_kernels.md §3) acting on a one-channel image ``u`` gives

    (F_i u)_p = Σ_q f_{i,p}(q) · u(p + q − c),

and the solvers need its weighted normal operator

    N u = Σ_i F_iᵀ (w_i ⊙ F_i u)                                   (SVMAP eq. 5–6, §1.2)

once per CG step. In PyTorch that is ``2·n·s²`` whole-image multiply-adds, each re-reading
an ``n``-channel accumulator, so the taps (``n·s²`` floats per pixel, 112 MB for SVMAP's
regulariser bank on a 274² RGB domain) and the accumulators stream through memory about
three times per product. :func:`pixel_filter_normal_numba` fuses the product: per image
row it forms the ``n`` responses in a row buffer and scatters ``Fᵀ`` of them while that
row's taps are still in cache, so each CG step reads the taps once.

Why hand-written: no PyTorch operator (nor kornia, nor any of the toolkit's libraries)
applies per-pixel filters or their normal operator on the CPU; the CUDA path is the Triton
kernel of :mod:`.triton_pixel_filter`. Numba compiles this module on the first call
(``cache=True`` keeps the machine code on disk for later processes).

**Tap layout.** Inner loops run along image rows, so the kernel wants the taps as
``(B, H, n, s², W)`` (C-contiguous): for one row every tap plane of that row is one
contiguous block. :func:`pixel_filter_rows` writes that layout from a prediction
``(B, n·s², H, W)`` of any strides (a channels-last network output is read in place), and
optionally makes each filter zero-mean per pixel and/or adds a centred Dirac, in the same
pass. The result is returned as the ``(B, n, s², H, W)`` view every other code path uses.

Forward only: these functions do not record autograd (the caller uses the PyTorch loops
when gradients are needed). float32 and float64.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numba
import numpy as np
import torch
from torch import Tensor

__all__ = ["pixel_filter_normal_numba", "pixel_filter_rows"]

_ROWS_PER_CHUNK = 8
"""Rows per parallel work item of the normal kernel (measured: 4–32 are within 5 %)."""


@numba.njit(parallel=True, cache=True, nogil=True)
def _rows_kernel(chunks, out, n, ss, zero_mean, delta_tap):  # pragma: no cover - compiled
    # chunks: a tuple of (B, H, W, c_k) arrays, the prediction's channels in order (Σ c_k = n*ss);
    # out (B, H, n, ss, W) C-contiguous. Per image row this is a (W, n*ss) -> (n*ss, W)
    # transpose (one row of SVMAP's bank, 137 KB, stays in L2).
    B, H, n_, ss_, W = out.shape
    for k in numba.prange(B * H):
        b = k // H
        y = k % H
        _load_row(chunks, b, y, n, ss, zero_mean, delta_tap, out[b, y].reshape(n * ss, W))


@numba.njit(nogil=True, cache=True)
def _load_row(chunks, b, py, n, ss, zero_mean, delta_tap, dst):  # pragma: no cover - compiled
    # dst (n*ss, W) <- the taps of image row py, transposed from the (B, H, W, c_k) chunks
    j0 = 0
    W = dst.shape[1]
    for ch in chunks:
        srow = ch[b, py]
        for j in range(srow.shape[1]):
            o = dst[j0 + j]
            for x in range(W):
                o[x] = srow[x, j]
        j0 += srow.shape[1]
    if zero_mean:
        m = np.zeros(W, dtype=dst.dtype)
        for i in range(n):
            for x in range(W):
                m[x] = 0.0
            for q in range(ss):
                o = dst[i * ss + q]
                for x in range(W):
                    m[x] += o[x]
            for x in range(W):
                m[x] /= ss
            for q in range(ss):
                o = dst[i * ss + q]
                for x in range(W):
                    o[x] -= m[x]
    if delta_tap >= 0:
        for i in range(n):
            o = dst[i * ss + delta_tap]
            for x in range(W):
                o[x] += 1.0


@numba.njit(parallel=True, cache=True, nogil=True)
def _normal_kernel(up, taps, weights, has_weights, s, parts, rows):  # pragma: no cover - compiled
    # up (B, H+2c, W+2c) zero-padded input; taps (B, H, n, s*s, W); weights (B, n, H, W);
    # parts (B * ceil(H / rows), rows + 2c, W + 2c) zeros: each chunk's scatter canvas.
    B, H, n, ss, W = taps.shape
    nchunks = (H + rows - 1) // rows
    for k in numba.prange(B * nchunks):
        b = k // nchunks
        y0 = (k % nchunks) * rows
        y1 = min(H, y0 + rows)
        part = parts[k]
        r = np.empty((n, W), dtype=up.dtype)
        for y in range(y0, y1):
            ty = taps[b, y]
            for i in range(n):  # r_i = F_i u on row y
                ri = r[i]
                for x in range(W):
                    ri[x] = 0.0
                for a in range(s):
                    for bb in range(s):
                        t = ty[i, a * s + bb]
                        uv = up[b, y + a, bb:bb + W]  # unit-stride views: the loops vectorise
                        for x in range(W):
                            ri[x] += t[x] * uv[x]
                if has_weights:
                    wr = weights[b, i, y]
                    for x in range(W):
                        ri[x] *= wr[x]
            for a in range(s):  # scatter Σ_i F_iᵀ r_i onto rows y .. y + 2c of the canvas
                for bb in range(s):
                    q = a * s + bb
                    pv = part[y - y0 + a, bb:bb + W]
                    for i in range(n):
                        t = ty[i, q]
                        ri = r[i]
                        for x in range(W):
                            pv[x] += t[x] * ri[x]


@numba.njit(cache=True, nogil=True)
def _sum_parts(parts, rows, out, c):  # pragma: no cover - compiled
    # add every chunk's canvas into out (B, H, W), dropping the c-wide zero-padding ring
    B, H, W = out.shape
    nchunks = (H + rows - 1) // rows
    for k in range(B * nchunks):
        b = k // nchunks
        y0 = (k % nchunks) * rows
        y1 = min(H, y0 + rows)
        for yy in range(y1 - y0 + 2 * c):
            yc = y0 + yy - c
            if yc < 0 or yc >= H:
                continue
            src = parts[k, yy]
            dst = out[b, yc]
            for x in range(W):
                dst[x] += src[x + c]


@contextmanager
def _threads() -> Iterator[None]:
    """Run a Numba kernel on PyTorch's thread count, and leave PyTorch's as it was.

    Numba's OpenMP layer shares the process's OpenMP runtime with PyTorch, and launching
    its pool resets the calling thread's OpenMP thread count (measured: a process started
    with ``OMP_NUM_THREADS=1`` ran PyTorch on 2 threads after the first kernel call, which
    also made the first and later results differ in their last bits).
    """
    before = torch.get_num_threads()
    numba.set_num_threads(max(1, min(before, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _check_cpu_float(t: Tensor, name: str) -> None:
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on {t.device}; the Numba kernels run on the CPU (use the Triton or reference backend)")
    if t.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} has dtype {t.dtype}; the Numba kernels take float32 or float64")


def pixel_filter_rows(filters: Tensor | Sequence[Tensor], n: int, zero_mean: bool = False, delta: bool = False) -> Tensor:
    """The taps of a per-pixel prediction in the row layout of :func:`pixel_filter_normal_numba`.

    Args:
        filters: ``(B, n·s², H, W)``, or a sequence of channel chunks ``(B, c_k, H, W)``
            with ``Σ c_k = n·s²`` (the split output of a convolution); channels-last
            tensors are read in place, others are copied to channels-last first.
        n: number of filters (``s`` odd is inferred).
        zero_mean: subtract each filter's tap mean per pixel, ``f − mean_q f``.
        delta: then add 1 at the centre tap (a Dirac, ``δ + f``).

    Returns:
        ``(B, n, s², H, W)``, a view of C-contiguous ``(B, H, n, s², W)`` memory.
    """
    chunks = [filters] if isinstance(filters, Tensor) else list(filters)
    for t in chunks:
        _check_cpu_float(t, "filters")
    B, _, H, W = chunks[0].shape
    nss = sum(int(t.shape[1]) for t in chunks)
    if any(t.shape[0] != B or tuple(t.shape[2:]) != (H, W) or t.dtype != chunks[0].dtype for t in chunks):
        raise ValueError(f"filter chunks must share batch, size and dtype, got {[tuple(t.shape) for t in chunks]}")
    ss = nss // n
    s = int(round(ss**0.5))
    if n * ss != nss or s * s != ss or s % 2 == 0:
        raise ValueError(f"{nss} filter channels are not n·s² with n = {n} and odd s")
    arrays = tuple(np.ascontiguousarray(t.detach().permute(0, 2, 3, 1).numpy()) for t in chunks)
    out = np.empty((B, H, n, ss, W), dtype=arrays[0].dtype)
    with _threads():
        _rows_kernel(arrays, out, n, ss, bool(zero_mean), ss // 2 if delta else -1)
    return torch.from_numpy(out).permute(0, 2, 3, 1, 4)


def pixel_filter_normal_numba(u: Tensor, filters: Tensor, weights: Tensor | None = None) -> Tensor:
    """``Σ_i F_iᵀ (w_i ⊙ F_i u)`` fused, on the CPU.

    Args:
        u: ``(B, 1, H, W)``.
        filters: ``(B or 1, n, s², H, W)``; fastest as the view :func:`pixel_filter_rows`
            returns (any other strides, or a batch of 1, are copied into that layout first).
        weights: ``(B, n, H, W)`` or ``None`` (all ones).

    Returns:
        ``(B, 1, H, W)``, equal to ``Σ_i pixel_filter_adjoint(w ⊙ pixel_filter_apply(u, f))_i``
        of :mod:`.reference` up to float rounding.
    """
    _check_cpu_float(u, "u")
    B, one, H, W = u.shape
    if filters.dim() == 5 and filters.shape[0] == 1 and B > 1:  # filters shared by the batch
        filters = filters.expand(B, *filters.shape[1:])
    if filters.dim() != 5 or filters.shape[0] != B or tuple(filters.shape[3:]) != (H, W) or one != 1:
        raise ValueError(f"u {tuple(u.shape)} must be (B, 1, H, W) and filters (B, n, s², H, W), got {tuple(filters.shape)}")
    n, ss = int(filters.shape[1]), int(filters.shape[2])
    s = int(round(ss**0.5))
    if s * s != ss or s % 2 == 0:
        raise ValueError(f"filters have {ss} taps per pixel; expected s*s with s odd")
    c = s // 2
    dtype = u.dtype
    rows_layout = filters.detach().to(dtype).permute(0, 3, 1, 2, 4)
    taps = np.ascontiguousarray(rows_layout.numpy())
    up = torch.nn.functional.pad(u.detach(), (c, c, c, c))[:, 0].contiguous().numpy()
    if weights is None:
        w, has_w = np.zeros((1, 1, 1, 1), dtype=up.dtype), False
    else:
        if tuple(weights.shape) != (B, n, H, W):
            raise ValueError(f"weights must be (B, n, H, W) = {(B, n, H, W)}, got {tuple(weights.shape)}")
        w, has_w = np.ascontiguousarray(weights.detach().to(dtype).numpy()), True
    rows = _ROWS_PER_CHUNK
    parts = np.zeros((B * ((H + rows - 1) // rows), rows + 2 * c, W + 2 * c), dtype=up.dtype)
    with _threads():
        _normal_kernel(up, taps, w, has_w, s, parts, rows)
        out = np.zeros((B, H, W), dtype=up.dtype)
        _sum_parts(parts, rows, out, c)
    return torch.from_numpy(out)[:, None]

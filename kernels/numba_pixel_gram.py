"""CPU kernels (Numba): the normal operator of a per-pixel filter bank as one symmetric stencil.

For a bank of ``n`` per-pixel filters ``F_i`` (``s × s``, gather form, zero padding,
``c = s // 2``; :mod:`.numba_pixel_filter`) the normal operator is a spatially varying
stencil of size ``(2s − 1)²``:

    (Σ_i F_iᵀ F_i u)(m) = Σ_d K_m(d) u(m + d),    d ∈ [−(s−1), s−1]²,
    K_m(d) = Σ_q P_{m−q+c}(q, q + d),    P_p(q, q') = Σ_i f_{i,p}(q) f_{i,p}(q')

(``q`` and ``q + d`` inside the ``s × s`` window, ``p = m − q + c`` inside the image). The
stencil is symmetric, ``K_m(−d) = K_{m−d}(d)``, so only the half ``D₊ = {d : d_y > 0, or
d_y = 0 and d_x ≥ 0}`` is stored: ``((2s − 1)² + 1) / 2`` planes (41 for ``s = 5``) instead
of the bank's ``n·s²`` taps (75 and 125 for SVMAP-small's data and regulariser banks), and

    (N u)(m) = Σ_{d∈D₊} K_m(d) u(m + d) + Σ_{d∈D₊, d≠0} K_{m−d}(d) u(m − d).

:func:`pixel_filter_gram` builds ``K`` once per IRLS iteration (``n·(s⁴ + s²)/2``
multiply-adds per pixel, in cache: the taps of the ``2c + 1`` rows it needs sit in a
per-thread ring buffer, transposed from the network's channels-last output), and
:func:`pixel_filter_normal_gram` applies it in every CG step: 41 planes streamed per
product (each also re-read, from cache, for the rows below it) where the tap form reads
``n·s²`` taps (75 or 125). Both kernels are gathers over output rows, so threads never
write the same row.

Why hand-written: no library applies per-pixel filters on the CPU (see
:mod:`.numba_pixel_filter`). Forward only; float32 and float64.
"""

from __future__ import annotations

from typing import Sequence

import numba
import numpy as np
import torch
from torch import Tensor

from .numba_pixel_filter import _check_cpu_float, _load_row, _threads

__all__ = ["gram_offsets", "gram_stencil", "pixel_filter_gram", "pixel_filter_gram_rows", "pixel_filter_normal_gram"]

_ROWS_PER_CHUNK = 24
"""Output rows per parallel work item of the stencil build (each item transposes its
rows plus ``2c`` halo rows)."""


def gram_offsets(s: int) -> np.ndarray:
    """The half-set ``D₊`` as an ``(P, 2)`` int array of ``(d_y, d_x)``, ``(0, 0)`` first."""
    e = s - 1
    out = [(0, dx) for dx in range(0, e + 1)]
    out += [(dy, dx) for dy in range(1, e + 1) for dx in range(-e, e + 1)]
    return np.asarray(out, dtype=np.int64)


@numba.njit(parallel=True, nogil=True, cache=True)
def _gram_kernel(chunks, row0, n, s, zero_mean, delta_tap, offsets, K, y_lo, y_hi, rows):  # pragma: no cover
    # K[:, y_lo:y_hi] (K is (B, H, P, W)) <- K_m(d) for d = offsets[j], m = (y, x); the chunks
    # (B, H_s, W, c_k) hold the taps of image rows row0 .. row0 + H_s - 1, which must cover
    # rows y_lo - c .. y_hi - 1 + c (clipped to the image).
    B, H, P, W = K.shape
    ss = s * s
    c = s // 2
    nchunks = (y_hi - y_lo + rows - 1) // rows
    for k in numba.prange(B * nchunks):
        b = k // nchunks
        y0 = y_lo + (k % nchunks) * rows
        y1 = min(y_hi, y0 + rows)
        ring = np.empty((s, n * ss, W), dtype=K.dtype)
        for py in range(max(0, y0 - c), min(H, y0 + c)):
            _load_row(chunks, b, py - row0, n, ss, zero_mean, delta_tap, ring[py % s])
        for y in range(y0, y1):
            if y + c < H:
                _load_row(chunks, b, y + c - row0, n, ss, zero_mean, delta_tap, ring[(y + c) % s])
            for j in range(P):
                dy = offsets[j, 0]
                dx = offsets[j, 1]
                krow = K[b, y, j]
                for x in range(W):
                    krow[x] = 0.0
                for qa in range(0, s - dy):
                    py = y - qa + c
                    if py < 0 or py >= H:
                        continue
                    T = ring[py % s]
                    for qb in range(max(0, -dx), min(s, s - dx)):
                        q1 = qa * s + qb
                        q2 = (qa + dy) * s + qb + dx
                        off = c - qb  # p_x = x + off
                        x_lo = max(0, -off)
                        L = min(W, W - off) - x_lo
                        kv = krow[x_lo:x_lo + L]
                        for i in range(n):  # unit-stride views: the loop vectorises
                            t1 = T[i * ss + q1, x_lo + off:x_lo + off + L]
                            t2 = T[i * ss + q2, x_lo + off:x_lo + off + L]
                            for x in range(L):
                                kv[x] += t1[x] * t2[x]


@numba.njit(parallel=True, nogil=True, cache=True)
def _stencil_kernel(up, K, offsets, e, out):  # pragma: no cover - compiled
    # up (B, H + 2e, W + 2e) zero-padded u; out (B, H, W) <- Σ_{D+} K u(m+d) + Σ_{D+\0} K_{m-d}(d) u(m-d)
    B, H, P, W = K.shape
    for k in numba.prange(B * H):
        b = k // H
        y = k % H
        o = out[b, y]
        for x in range(W):
            o[x] = 0.0
        for j in range(P):
            dy = offsets[j, 0]
            dx = offsets[j, 1]
            krow = K[b, y, j]
            uv = up[b, y + dy + e, dx + e:dx + e + W]
            for x in range(W):
                o[x] += krow[x] * uv[x]
            if j == 0:
                continue
            yy = y - dy
            if yy < 0:
                continue
            # o[x] += K[yy, j, x - dx] * u(yy, x - dx) for 0 <= x - dx < W (unit-stride views)
            lo = max(0, dx)
            L = min(W, W + dx) - lo
            ov = o[lo:lo + L]
            kv = K[b, yy, j, lo - dx:lo - dx + L]
            uv2 = up[b, yy + e, lo - dx + e:lo - dx + e + L]
            for x in range(L):
                ov[x] += kv[x] * uv2[x]


def _chunk_arrays(filters: Tensor | Sequence[Tensor], n: int) -> tuple[tuple[np.ndarray, ...], int]:
    """The chunks as C-contiguous ``(B, H, W, c_k)`` arrays, checked, and ``s``."""
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
    return tuple(np.ascontiguousarray(t.detach().permute(0, 2, 3, 1).numpy()) for t in chunks), s


def gram_stencil(batch: int, height: int, width: int, s: int, dtype: torch.dtype) -> Tensor:
    """An uninitialised stencil ``(B, H, P, W)`` for :func:`pixel_filter_gram_rows`."""
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    return torch.from_numpy(np.empty((batch, height, len(gram_offsets(s)), width), dtype=np_dtype))


def pixel_filter_gram_rows(K: Tensor, filters: Tensor | Sequence[Tensor], n: int, rows: tuple[int, int],
                           row0: int = 0, zero_mean: bool = False, delta: bool = False) -> None:
    """Fill rows ``rows = (y_lo, y_hi)`` of the stencil ``K`` ``(B, H, P, W)`` in place.

    ``filters`` (a prediction or its channel chunks, ``(B, ·, H_s, W)``) holds the taps of
    image rows ``row0 … row0 + H_s − 1``, which must include rows ``y_lo − c … y_hi − 1 + c``
    clipped to the image (``c = s // 2``): a strip of the image with a halo, so a network
    can be run strip by strip. The taps get ``zero_mean`` / ``delta`` as in
    :func:`pixel_filter_gram`.
    """
    arrays, s = _chunk_arrays(filters, n)
    B, H, P, W = K.shape
    y_lo, y_hi = int(rows[0]), int(rows[1])
    c = s // 2
    Hs = arrays[0].shape[1]
    if not (0 <= y_lo < y_hi <= H) or row0 < 0 or row0 > max(0, y_lo - c) or row0 + Hs < min(H, y_hi + c):
        raise ValueError(f"taps of rows {row0}..{row0 + Hs - 1} do not cover rows {y_lo}..{y_hi - 1} ± {c} of a {H}-row stencil")
    if P != len(gram_offsets(s)) or arrays[0].shape[0] != B or arrays[0].shape[2] != W or not K.is_contiguous():
        raise ValueError(f"stencil {tuple(K.shape)} does not fit taps of shape {tuple(arrays[0].shape)} with s = {s}")
    if K.numpy().dtype != arrays[0].dtype:
        raise ValueError(f"stencil dtype {K.dtype} differs from the taps' dtype")
    ss = s * s
    with _threads():
        _gram_kernel(arrays, int(row0), n, s, bool(zero_mean), ss // 2 if delta else -1, gram_offsets(s), K.numpy(),
                     y_lo, y_hi, _ROWS_PER_CHUNK)


def pixel_filter_gram(filters: Tensor | Sequence[Tensor], n: int, zero_mean: bool = False,
                      delta: bool = False) -> Tensor:
    """The half stencil ``K`` of ``Σ_i F_iᵀ F_i`` for a per-pixel prediction.

    Args:
        filters: ``(B, n·s², H, W)`` or its channel chunks ``(B, c_k, H, W)`` (as
            :func:`.numba_pixel_filter.pixel_filter_rows`); the taps are first made
            zero-mean per filter and pixel (``zero_mean``) and/or given a centred Dirac
            (``delta``), exactly as that function does.
        n: number of filters (``s`` odd is inferred).

    Returns:
        ``K`` ``(B, H, P, W)``, C-contiguous, with ``P = ((2s − 1)² + 1) / 2`` planes in the
        order of :func:`gram_offsets` (the planes are the stencil's ``D₊`` half).
    """
    chunks = [filters] if isinstance(filters, Tensor) else list(filters)
    B, nss, H, W = chunks[0].shape[0], sum(int(t.shape[1]) for t in chunks), chunks[0].shape[2], chunks[0].shape[3]
    s = int(round((nss // max(n, 1)) ** 0.5))
    K = gram_stencil(B, H, W, s, chunks[0].dtype)
    pixel_filter_gram_rows(K, chunks, n, (0, H), 0, zero_mean=zero_mean, delta=delta)
    return K


def pixel_filter_normal_gram(u: Tensor, K: Tensor) -> Tensor:
    """``Σ_i F_iᵀ F_i u`` from the half stencil of :func:`pixel_filter_gram`.

    Args:
        u: ``(B, 1, H, W)``, float32/float64 (``K`` is cast to its dtype).
        K: ``(B, H, P, W)``.

    Returns:
        ``(B, 1, H, W)``.
    """
    _check_cpu_float(u, "u")
    B, one, H, W = u.shape
    P = int(K.shape[2]) if K.dim() == 4 else -1
    e = (int(round((2 * P - 1) ** 0.5)) - 1) // 2
    if one != 1 or K.dim() != 4 or tuple(K.shape) != (B, H, P, W) or (2 * e + 1) ** 2 != 2 * P - 1:
        raise ValueError(f"u {tuple(u.shape)} must be (B, 1, H, W) and K (B, H, P, W), got {tuple(K.shape)}")
    s = e + 1
    up = torch.nn.functional.pad(u.detach(), (e, e, e, e))[:, 0].contiguous().numpy()
    k = np.ascontiguousarray(K.detach().to(u.dtype).numpy())
    out = np.empty((B, H, W), dtype=up.dtype)
    with _threads():
        _stencil_kernel(up, k, gram_offsets(s), e, out)
    return torch.from_numpy(out)[:, None]

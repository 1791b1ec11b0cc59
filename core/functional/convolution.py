"""Uniform 2-D convolution with boundary handling, its exact adjoint, and ``psf2otf``.

Spec: operators_and_kernels.md §1–§2.

* True convolution by default: ``y(p) = Σ_q k(q) x(p − q)`` with the kernel centre at
  ``(h // 2, w // 2)`` (also for even sizes, our choice), matching
  ``scipy.ndimage.convolve``; ``correlation=True`` gives ``y(p) = Σ_q k(q) x(p + q)``.
* Boundaries: ``circular``, ``valid`` (output ``(H − h + 1, W − w + 1)``), ``zeros``,
  ``reflect`` (PyTorch, edge not repeated), ``symmetric`` (edge repeated), ``replicate``.
* Spatial path: explicit padding, then one grouped ``F.conv2d`` with batch and channels
  folded into the groups. Adjoint: ``F.conv_transpose2d`` ("full" transpose), then the
  padding adjoint. Tiny kernels (at most :data:`SHIFT_MAX_TAPS` taps, e.g. finite
  differences) are applied as a sum of shifted, scaled views instead, which on the CPU is
  an order of magnitude faster than a grouped convolution with a 2-tap filter.
* FFT path: ``A x = irfft2(K̂ · rfft2(x))`` with ``K̂ = rfft2(psf2otf(k, (H, W)))``;
  ``Aᵀ y = irfft2(conj(K̂) · rfft2(y))``. Circular natively; other modes pad by
  ``(h − 1, w − 1)``, zero-extend to a fast FFT length, convolve circularly and crop
  (adjoint: zero-embed, conjugate, crop, padding adjoint). Batch and channels are
  transformed in one batched FFT.
* OTF cache: iterative solvers apply the same kernel hundreds of times, so the FFT path
  keeps the transfer functions of the last few kernels (:data:`OTF_CACHE_SIZE`), keyed by
  the kernel tensor's identity and version counter (an in-place change of the kernel
  invalidates its entry; a freed kernel drops it). Kernels that require gradients while
  autograd is on are never cached, so gradients with respect to the kernel are exact.

Shapes: ``x`` ``(B, C, H, W)``; ``kernel`` ``(h, w)``, ``(B|1, h, w)`` or
``(B|1, C|1, h, w)``. Float32 and float64 (half precision is computed in float32).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Literal

import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit.errors import InputError

from .padding import pad, pad_adjoint

Boundary = Literal["circular", "valid", "zeros", "reflect", "symmetric", "replicate"]
Method = Literal["spatial", "fft", "auto"]
BOUNDARIES: tuple[str, ...] = ("circular", "valid", "zeros", "reflect", "symmetric", "replicate")
METHODS: tuple[str, ...] = ("spatial", "fft", "auto")

FFT_AUTO_MIN_TAPS = 225
"""``method="auto"`` uses the FFT path on CUDA when ``h * w`` is at least this (15 × 15).
Our choice, a heuristic: the direct path costs ``h·w`` MAC per pixel while the FFT's cost
does not grow with the kernel, and the direct path is exact in any dtype and
autocast-friendly. Measure the crossover on your device with ``benchmarks/convolution.py``."""

FFT_AUTO_MIN_TAPS_CPU = 25
"""The same threshold for CPU tensors (5 × 5). Measured with ``benchmarks/convolution.py``
on 3 × 280² float32 images, one thread: the FFT path is faster from 5 × 5 on (11.6 vs
15.7 ms), 2.5× at 13 × 13 (the smallest Levin kernel) and 6× at 27 × 27; at 3 × 3 they tie."""

SHIFT_MAX_TAPS = 9
"""Spatial kernels with at most this many taps (3 × 3) are applied as shifted multiply-adds
(our choice; measured with ``benchmarks/convolution.py --kernels 2,3,5``)."""

OTF_CACHE_SIZE = 8
"""Number of transfer functions the FFT path keeps (see the module docstring)."""

__all__ = [
    "BOUNDARIES",
    "Boundary",
    "FFT_AUTO_MIN_TAPS",
    "FFT_AUTO_MIN_TAPS_CPU",
    "METHODS",
    "OTF_CACHE_SIZE",
    "SHIFT_MAX_TAPS",
    "Method",
    "as_kernel4d",
    "clear_otf_cache",
    "conv2d",
    "conv2d_adjoint",
    "conv_out_shape",
    "psf2otf",
]


# ---------------------------------------------------------------------------------------
# Checks and helpers
# ---------------------------------------------------------------------------------------


def _check_x(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise InputError(f"{name} must be a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise InputError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}; add batch/channel dims with x[None, None]")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got {x.dtype}; convert with x.float()")


def _check_options(boundary: str, method: str) -> None:
    if boundary not in BOUNDARIES:
        raise InputError(f"unknown boundary '{boundary}'; use one of {', '.join(BOUNDARIES)}")
    if method not in METHODS:
        raise InputError(f"unknown method '{method}'; use one of {', '.join(METHODS)}")


def as_kernel4d(kernel: Tensor, x: Tensor) -> Tensor:
    """Check ``kernel`` against ``x`` ``(B, C, H, W)`` and return it as ``(B|1, C|1, h, w)``
    on ``x``'s device and dtype.

    Raises:
        InputError: wrong number of dims, or batch/channel counts that do not broadcast.
    """
    if not isinstance(kernel, Tensor):
        kernel = torch.as_tensor(kernel)
    if kernel.dim() == 2:
        kernel = kernel[None, None]
    elif kernel.dim() == 3:
        kernel = kernel[:, None]
    if kernel.dim() != 4:
        raise InputError(
            f"kernel must have shape (h, w), (B, h, w) or (B|1, C|1, h, w), got {tuple(kernel.shape)}"
        )
    kb, kc, kh, kw = kernel.shape
    B, C = x.shape[:2]
    if kb not in (1, B):
        raise InputError(f"kernel batch size {kb} does not broadcast to the image batch {B}; give 1 or {B} kernels")
    if kc not in (1, C):
        raise InputError(f"kernel has {kc} channels; expected 1 or {C} (the image's channels)")
    if kh < 1 or kw < 1:
        raise InputError(f"kernel is empty: shape {tuple(kernel.shape)}")
    return kernel.to(device=x.device, dtype=x.dtype)


def _corr_kernel(kernel: Tensor, correlation: bool) -> tuple[Tensor, int, int]:
    """The correlation kernel ``g`` and its anchor ``(a_h, a_w)``: the operator is
    ``y(p) = Σ_i g[i] xpad(p + i − a)``. For convolution ``g`` is the flipped kernel and
    the anchor ``h − 1 − h//2``; for correlation ``g = k`` and the anchor ``h // 2``."""
    kh, kw = kernel.shape[-2:]
    if correlation:
        return kernel, kh // 2, kw // 2
    return kernel.flip(-2, -1), kh - 1 - kh // 2, kw - 1 - kw // 2


def conv_out_shape(in_shape: tuple[int, ...], kernel_size: tuple[int, int], boundary: str) -> tuple[int, ...]:
    """Output shape of :func:`conv2d`: ``(…, H − h + 1, W − w + 1)`` for ``valid``, else the input shape."""
    if boundary != "valid":
        return tuple(in_shape)
    H, W = in_shape[-2:]
    kh, kw = kernel_size
    if H < kh or W < kw:
        raise InputError(f"boundary 'valid' needs an image at least as large as the kernel: image {H}x{W}, kernel {kh}x{kw}")
    return (*tuple(in_shape[:-2]), H - kh + 1, W - kw + 1)


def _grouped(x: Tensor, g: Tensor, transpose: bool) -> Tensor:
    """Correlation (or its transpose) of every ``(b, c)`` plane of ``x`` with ``g[b|0, c|0]``,
    with batch and channels folded into groups."""
    B, C, H, W = x.shape
    kb, kc, kh, kw = g.shape
    op = F.conv_transpose2d if transpose else F.conv2d
    if kb == 1:
        return op(x, g.expand(1, C, kh, kw).reshape(C, 1, kh, kw), groups=C)
    weight = g.expand(B, C, kh, kw).reshape(B * C, 1, kh, kw)
    out = op(x.reshape(1, B * C, H, W), weight, groups=B * C)
    return out.reshape(B, C, *out.shape[-2:])


def _shifted(x: Tensor, g: Tensor, transpose: bool) -> Tensor:
    """:func:`_grouped` for tiny kernels: ``Σ_{a,b} g[a, b] · x[a : a + H_o, b : b + W_o]``
    (correlation, valid), or its transpose (scatter-add onto the ``full`` canvas)."""
    kh, kw = g.shape[-2:]
    taps = g[..., None, None]  # (B|1, C|1, kh, kw, 1, 1): broadcast each tap over the image
    if not transpose:
        Ho, Wo = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
        out = None
        for a in range(kh):
            for b in range(kw):
                term = taps[:, :, a, b] * x[..., a : a + Ho, b : b + Wo]
                out = term if out is None else out.add_(term)
        return out
    Ho, Wo = x.shape[-2:]
    B, C = max(x.shape[0], g.shape[0]), max(x.shape[1], g.shape[1])
    out = x.new_zeros((B, C, Ho + kh - 1, Wo + kw - 1))
    for a in range(kh):
        for b in range(kw):
            out[..., a : a + Ho, b : b + Wo] += taps[:, :, a, b] * x
    return out


def _spatial(x: Tensor, g: Tensor, transpose: bool) -> Tensor:
    if g.shape[-2] * g.shape[-1] <= SHIFT_MAX_TAPS:
        return _shifted(x, g, transpose)
    return _grouped(x, g, transpose)


def _pads(kh: int, kw: int, ah: int, aw: int) -> tuple[int, int, int, int]:
    return (ah, kh - 1 - ah, aw, kw - 1 - aw)


def _compute_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


# ---------------------------------------------------------------------------------------
# FFT
# ---------------------------------------------------------------------------------------


def psf2otf(kernel: Tensor, shape: tuple[int, int], onesided: bool = True) -> Tensor:
    """Optical transfer function of a PSF, as MATLAB ``psf2otf``.

    Zero-pads ``kernel`` ``(…, h, w)`` to ``shape = (H, W)`` and circularly shifts it so
    that its centre ``(h // 2, w // 2)`` sits at ``(0, 0)``, then takes ``rfft2``
    (``onesided=True``) or ``fft2``. Kernels larger than the image are wrapped around
    (aliased), which is what circular convolution with them means.

    Returns:
        complex tensor ``(…, H, W // 2 + 1)`` (``onesided``) or ``(…, H, W)``.
    """
    H, W = int(shape[0]), int(shape[1])
    kh, kw = kernel.shape[-2:]
    if kh <= H and kw <= W:
        padded = F.pad(kernel, (0, W - kw, 0, H - kh))
        padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    else:
        rows = torch.remainder(torch.arange(kh, device=kernel.device) - kh // 2, H)
        cols = torch.remainder(torch.arange(kw, device=kernel.device) - kw // 2, W)
        tmp = torch.zeros((*kernel.shape[:-2], H, kw), dtype=kernel.dtype, device=kernel.device)
        tmp = tmp.index_add(kernel.dim() - 2, rows, kernel)
        padded = torch.zeros((*kernel.shape[:-2], H, W), dtype=kernel.dtype, device=kernel.device)
        padded = padded.index_add(kernel.dim() - 1, cols, tmp)
    return torch.fft.rfft2(padded) if onesided else torch.fft.fft2(padded)


_OTF_CACHE: "OrderedDict[tuple, tuple[weakref.ref, Tensor]]" = OrderedDict()


def _cached_otf(source: Tensor, kernel: Tensor, shape: tuple[int, int]) -> Tensor:
    """``psf2otf(kernel, shape)``, cached under the identity of ``source`` (the tensor the
    caller passed, of which ``kernel`` is the checked ``(B|1, C|1, h, w)`` form in the
    compute dtype)."""
    if OTF_CACHE_SIZE <= 0 or (torch.is_grad_enabled() and (source.requires_grad or kernel.requires_grad)):
        return psf2otf(kernel, shape)
    key = (id(source), source._version, tuple(kernel.shape), kernel.dtype, kernel.device, int(shape[0]), int(shape[1]))
    hit = _OTF_CACHE.get(key)
    if hit is not None and hit[0]() is source:
        _OTF_CACHE.move_to_end(key)
        return hit[1]
    otf = psf2otf(kernel, shape)
    try:
        ref = weakref.ref(source, lambda _r, key=key: _OTF_CACHE.pop(key, None))
    except TypeError:  # pragma: no cover - tensors support weak references
        return otf
    _OTF_CACHE[key] = (ref, otf)
    while len(_OTF_CACHE) > OTF_CACHE_SIZE:
        _OTF_CACHE.popitem(last=False)
    return otf


def clear_otf_cache() -> None:
    """Drop every cached transfer function (e.g. to free memory after a large solve)."""
    _OTF_CACHE.clear()


def _fast_len(n: int) -> int:
    """Smallest 2·3·5·7-smooth length ≥ ``n`` (``scipy.fft.next_fast_len``)."""
    return int(scipy.fft.next_fast_len(n, real=True))


def _fft_circular(x: Tensor, kernel: Tensor, conj: bool, source: Tensor | None = None) -> Tensor:
    """Circular true convolution (``conj=False``) or correlation (``conj=True``) of
    ``x`` ``(B, C, H, W)`` with ``kernel`` ``(B|1, C|1, h, w)`` centred at ``(h//2, w//2)``.
    ``source``: the caller's kernel tensor, to cache the OTF under (see the module docstring)."""
    H, W = x.shape[-2:]
    otf = psf2otf(kernel, (H, W)) if source is None else _cached_otf(source, kernel, (H, W))
    if conj:
        otf = otf.conj()
    return torch.fft.irfft2(torch.fft.rfft2(x) * otf, s=(H, W))


# ---------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------


def _use_fft(method: str, kernel: Tensor) -> bool:
    if method == "fft":
        return True
    if method == "spatial":
        return False
    threshold = FFT_AUTO_MIN_TAPS_CPU if kernel.device.type == "cpu" else FFT_AUTO_MIN_TAPS
    return kernel.shape[-2] * kernel.shape[-1] >= threshold


def conv2d(
    x: Tensor,
    kernel: Tensor,
    boundary: str = "circular",
    correlation: bool = False,
    method: str = "auto",
) -> Tensor:
    """Uniform blur ``y = k ∗ x`` (or ``k ⋆ x`` with ``correlation=True``).

    Args:
        x: image ``(B, C, H, W)``, float32 or float64.
        kernel: ``(h, w)``, ``(B|1, h, w)`` or ``(B|1, C|1, h, w)``; centre ``(h//2, w//2)``.
        boundary: ``circular``, ``valid``, ``zeros``, ``reflect``, ``symmetric``, ``replicate``.
        correlation: compute a correlation instead of a true convolution.
        method: ``spatial`` (grouped conv2d), ``fft`` or ``auto`` (FFT when
            ``h·w ≥ FFT_AUTO_MIN_TAPS_CPU`` on the CPU, ``≥ FFT_AUTO_MIN_TAPS`` on CUDA).

    Returns:
        ``(B, C, H, W)``, or ``(B, C, H − h + 1, W − w + 1)`` for ``valid``.
    """
    _check_x(x)
    _check_options(boundary, method)
    source = kernel if isinstance(kernel, Tensor) else None
    kernel = as_kernel4d(kernel, x)
    kh, kw = kernel.shape[-2:]
    conv_out_shape(tuple(x.shape), (kh, kw), boundary)  # validates "valid" sizes
    dtype = x.dtype
    cd = _compute_dtype(x)
    x, kernel = x.to(cd), kernel.to(cd)
    g, ah, aw = _corr_kernel(kernel, correlation)
    if _use_fft(method, kernel):
        if boundary == "circular":
            return _fft_circular(x, kernel, conj=correlation, source=source).to(dtype)
        H, W = x.shape[-2:]
        if boundary == "valid":
            xp, Ho, Wo = x, H - kh + 1, W - kw + 1
        else:
            xp, Ho, Wo = pad(x, _pads(kh, kw, ah, aw), boundary), H, W
        # zero-extend to a fast FFT size: the cropped outputs never read the extension
        Hp, Wp = xp.shape[-2:]
        Hf, Wf = _fast_len(Hp), _fast_len(Wp)
        full = _fft_circular(F.pad(xp, (0, Wf - Wp, 0, Hf - Hp)), kernel, conj=correlation, source=source)
        return full[..., ah : ah + Ho, aw : aw + Wo].to(dtype)
    xp = x if boundary == "valid" else pad(x, _pads(kh, kw, ah, aw), boundary)
    return _spatial(xp, g, transpose=False).to(dtype)


def conv2d_adjoint(
    y: Tensor,
    kernel: Tensor,
    boundary: str = "circular",
    correlation: bool = False,
    method: str = "auto",
) -> Tensor:
    """Exact adjoint of :func:`conv2d` with the same arguments.

    Args:
        y: ``(B, C, H, W)``, or ``(B, C, H − h + 1, W − w + 1)`` for ``valid``.
        kernel, boundary, correlation, method: as for :func:`conv2d`.

    Returns:
        ``(B, C, H, W)`` with ``⟨conv2d(x), y⟩ = ⟨x, conv2d_adjoint(y)⟩``.
    """
    _check_x(y, "y")
    _check_options(boundary, method)
    source = kernel if isinstance(kernel, Tensor) else None
    kernel = as_kernel4d(kernel, y)
    kh, kw = kernel.shape[-2:]
    dtype = y.dtype
    cd = _compute_dtype(y)
    y, kernel = y.to(cd), kernel.to(cd)
    g, ah, aw = _corr_kernel(kernel, correlation)
    pads = _pads(kh, kw, ah, aw)
    if _use_fft(method, kernel):
        if boundary == "circular":
            return _fft_circular(y, kernel, conj=not correlation, source=source).to(dtype)
        Ho, Wo = y.shape[-2:]
        Hp, Wp = Ho + kh - 1, Wo + kw - 1  # size of the padded (or, for valid, input) image
        Hf, Wf = _fast_len(Hp), _fast_len(Wp)
        embedded = F.pad(y, (aw, Wf - Wo - aw, ah, Hf - Ho - ah))
        xp = _fft_circular(embedded, kernel, conj=not correlation, source=source)[..., :Hp, :Wp]
        if boundary == "valid":
            return xp.to(dtype)
        return pad_adjoint(xp, pads, boundary).to(dtype)
    xp = _spatial(y, g, transpose=True)
    if boundary == "valid":
        return xp.to(dtype)
    return pad_adjoint(xp, pads, boundary).to(dtype)


"""Pure-PyTorch references of the per-pixel (spatially variant) filters: gather apply, its
exact adjoint and the weighted normal operator (operators_and_kernels.md §3).

Re-exported by :mod:`.reference`, whose conventions they follow; autograd-differentiable,
any device, any float dtype.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .reference import _check_image

__all__ = ["pixel_filter_adjoint", "pixel_filter_apply", "pixel_filter_normal"]


# ---------------------------------------------------------------------------------------
# per-pixel spatially variant filters (gather / output side) and their adjoint
# ---------------------------------------------------------------------------------------


def _check_filters(x: Tensor, filters: Tensor, x_name: str) -> int:
    """Validate ``filters`` ``(B or 1, Cf, s*s, H, W)``; returns ``s``."""
    _check_image(x, x_name)
    if not isinstance(filters, Tensor) or filters.dim() != 5:
        shape = tuple(filters.shape) if isinstance(filters, Tensor) else type(filters).__name__
        raise ValueError(f"filters must have shape (B, Cf, s*s, H, W), got {shape}")
    b, c, h, w = x.shape
    fb, fc, ss, fh, fw = filters.shape
    s = int(round(ss**0.5))
    if s * s != ss or s % 2 == 0:
        raise ValueError(f"filters have {ss} taps per pixel; expected s*s with s odd (9, 25, 49, …)")
    if fc not in (1, c):
        raise ValueError(f"filters have Cf = {fc} channels; expected 1 (shared) or {c} (one per image channel)")
    if (fh, fw) != (h, w):
        raise ValueError(f"filters have spatial size {(fh, fw)} but {x_name} has {(h, w)}; give one filter per pixel")
    if fb not in (1, b):
        raise ValueError(f"filters have batch size {fb}, expected 1 or {b}")
    if filters.device != x.device:
        raise ValueError(f"filters are on {filters.device} but {x_name} is on {x.device}; move them to the same device")
    return s


def pixel_filter_apply(x: Tensor, filters: Tensor, convolution: bool = False) -> Tensor:
    """Per-pixel filters, gather form (operators_and_kernels.md §3), zero padding.

    ``y[b,ch,i,j] = Σ_{u,v} f[b,cf,u·s+v,i,j] · x[b,ch,i+u−c,j+v−c]`` with ``c = s//2``
    (``cf = ch`` or 0 when shared); ``convolution=True`` flips the taps (``u → s−1−u``,
    ``v → s−1−v``), i.e. ``y(p) = Σ_q f_p(q) x(p − q)``.
    Implemented as zero pad → ``F.unfold`` ``(B, C·s², HW)`` → multiply → sum over s².

    Args:
        x: ``(B, C, H, W)``.
        filters: ``(B or 1, Cf, s·s, H, W)``, ``Cf ∈ {1, C}``, ``s`` odd.
        convolution: flip the taps (true convolution).

    Returns:
        ``(B, C, H, W)``.
    """
    s = _check_filters(x, filters, "x")
    b, ch, h, w = x.shape
    taps = filters.to(dtype=x.dtype)
    if convolution:
        taps = taps.flip(2)
    cols = F.unfold(x, kernel_size=s, padding=s // 2).reshape(b, ch, s * s, h, w)
    return (cols * taps).sum(dim=2)


def pixel_filter_adjoint(y: Tensor, filters: Tensor, convolution: bool = False) -> Tensor:
    """Exact adjoint in ``x`` of :func:`pixel_filter_apply` (scatter / input side).

    ``xᵀ = crop(fold(y ⊙ f))``: multiply ``y`` by each pixel's taps, ``F.fold`` sums the
    overlapping patches onto the zero-padded canvas, and the padding is cropped off.

    Args:
        y: ``(B, C, H, W)``.
        filters: ``(B or 1, Cf, s·s, H, W)``.
        convolution: as in :func:`pixel_filter_apply`.

    Returns:
        ``(B, C, H, W)``.
    """
    s = _check_filters(y, filters, "y")
    b, ch, h, w = y.shape
    taps = filters.to(dtype=y.dtype)
    if convolution:
        taps = taps.flip(2)
    cols = (y.unsqueeze(2) * taps).reshape(b, ch * s * s, h * w)
    pad = s // 2
    canvas = F.fold(cols, output_size=(h + 2 * pad, w + 2 * pad), kernel_size=s)
    return canvas[..., pad : pad + h, pad : pad + w]


def pixel_filter_normal(u: Tensor, filters: Tensor, weights: Tensor | None = None) -> Tensor:
    """Weighted normal operator of a bank of ``n`` per-pixel filters on a one-channel image.

    ``N u = Σ_i F_iᵀ (w_i ⊙ F_i u)`` (SVMAP's IRLS system, specs/svmap.md §1.2), with ``F_i``
    the gather-form filter of :func:`pixel_filter_apply` with taps ``filters[:, i]``:
    :func:`pixel_filter_apply` on ``u`` repeated ``n`` times, the weights, then
    :func:`pixel_filter_adjoint` summed over the bank.

    Args:
        u: ``(B, 1, H, W)``.
        filters: ``(B or 1, n, s·s, H, W)``, ``s`` odd.
        weights: ``(B, n, H, W)`` or ``None`` (all ones).

    Returns:
        ``(B, 1, H, W)``.
    """
    _check_image(u, "u")
    if u.shape[1] != 1:
        raise ValueError(f"u must have one channel, (B, 1, H, W), got shape {tuple(u.shape)}")
    if not isinstance(filters, Tensor) or filters.dim() != 5:
        shape = tuple(filters.shape) if isinstance(filters, Tensor) else type(filters).__name__
        raise ValueError(f"filters must have shape (B, n, s*s, H, W), got {shape}")
    b, _, h, w = u.shape
    n = filters.shape[1]
    r = pixel_filter_apply(u.expand(b, n, h, w), filters)
    if weights is not None:
        if tuple(weights.shape) != (b, n, h, w):
            raise ValueError(f"weights must have shape (B, n, H, W) = {(b, n, h, w)}, got {tuple(weights.shape)}")
        r = r * weights.to(r.dtype)
    return pixel_filter_adjoint(r, filters).sum(dim=1, keepdim=True)

"""Boundary padding of ``(…, H, W)`` tensors and its exact adjoint.

Modes (spec operators_and_kernels.md §1, "naming pitfall"):

=============  ===========================  ===============================
mode           left margin of ``[a b c]``   equivalent
=============  ===========================  ===============================
``zeros``      ``0 0 | a b c``              ``scipy.ndimage`` ``constant``
``circular``   ``b c | a b c``              ``wrap``
``reflect``    ``c b | a b c``  (no repeat) PyTorch ``reflect``, SciPy ``mirror``
``symmetric``  ``b a | a b c``  (repeat)    SciPy ``reflect``, MATLAB ``symmetric``
``replicate``  ``a a | a b c``              ``nearest``
=============  ===========================  ===============================

Every padding is a linear map ``P: R^{H×W} → R^{(H+t+b)×(W+l+r)}`` that copies source
pixels; its adjoint ``Pᵀ`` adds every margin value back onto the pixel it was copied from.

Implementation note: the forward pass uses ``torch.nn.functional.pad`` where it can; the
general path is an index gather (``index_select``) along each axis and the adjoint the
matching scatter-add (``index_add``), because ``F.pad`` has no adjoint, limits ``reflect``
to margins smaller than the image and ``circular`` to margins no larger than it, and has
no ``symmetric`` mode. Margins of any width are supported here (the reflection is repeated
periodically), which the FFT path and large kernels on small images need.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import Tensor

from restorekit.errors import InputError

PadMode = Literal["zeros", "circular", "reflect", "symmetric", "replicate"]
PAD_MODES: tuple[str, ...] = ("zeros", "circular", "reflect", "symmetric", "replicate")

__all__ = ["PAD_MODES", "PadMode", "normalize_pad", "pad", "pad_adjoint", "pad_indices"]


def normalize_pad(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``int`` or ``(top, bottom, left, right)`` → a checked 4-tuple of non-negative ints."""
    if isinstance(padding, int):
        p = (padding,) * 4
    else:
        p = tuple(int(v) for v in padding)
        if len(p) != 4:
            raise InputError(
                f"padding must be an int or (top, bottom, left, right), got {tuple(padding)}; "
                f"give four margins"
            )
    if any(v < 0 for v in p):
        raise InputError(f"padding margins must be >= 0, got {p}; use a crop for negative margins")
    return p  # type: ignore[return-value]


def _check_mode(mode: str) -> None:
    if mode not in PAD_MODES:
        raise InputError(f"unknown padding mode '{mode}'; use one of {', '.join(PAD_MODES)}")


def pad_indices(n: int, before: int, after: int, mode: str, device: torch.device | None = None) -> Tensor:
    """Source index of every output position along one axis of length ``n``.

    Returns a long tensor of length ``before + n + after``; ``-1`` marks a zero (only in
    ``zeros`` mode).
    """
    _check_mode(mode)
    if n < 1:
        raise InputError(f"cannot pad an empty axis (length {n})")
    i = torch.arange(-before, n + after, device=device)
    if mode == "zeros":
        return torch.where((i >= 0) & (i < n), i, torch.full_like(i, -1))
    if mode == "circular":
        return torch.remainder(i, n)
    if mode == "replicate":
        return i.clamp(0, n - 1)
    if mode == "reflect":
        if n == 1:
            return torch.zeros_like(i)
        period = 2 * n - 2
        j = torch.remainder(i, period)
        return torch.where(j >= n, period - j, j)
    # symmetric: period 2n, edge repeated
    period = 2 * n
    j = torch.remainder(i, period)
    return torch.where(j >= n, period - 1 - j, j)


def _gather(x: Tensor, dim: int, idx: Tensor) -> Tensor:
    if bool((idx < 0).any()):
        zero = torch.zeros_like(x.narrow(dim, 0, 1))
        ext = torch.cat([x, zero], dim=dim)
        idx = torch.where(idx < 0, torch.full_like(idx, x.shape[dim]), idx)
        return ext.index_select(dim, idx)
    return x.index_select(dim, idx)


def _scatter(y: Tensor, dim: int, idx: Tensor, n: int) -> Tensor:
    keep = idx >= 0
    if not bool(keep.all()):
        y = y.index_select(dim, torch.nonzero(keep).flatten())
        idx = idx[keep]
    shape = list(y.shape)
    shape[dim] = n
    out = torch.zeros(shape, dtype=y.dtype, device=y.device)
    return out.index_add(dim, idx, y)


def _fpad_ok(mode: str, H: int, W: int, p: tuple[int, int, int, int]) -> bool:
    """Whether ``F.pad`` implements this padding (same result as the gather)."""
    top, bottom, left, right = p
    if mode == "replicate":
        return True
    if mode == "circular":
        return max(top, bottom) <= H and max(left, right) <= W
    if mode == "reflect":
        return max(top, bottom) < H and max(left, right) < W
    return False


def pad(x: Tensor, padding: int | Sequence[int], mode: str = "zeros") -> Tensor:
    """Pad the last two axes of ``x`` ``(…, H, W)``.

    Args:
        x: tensor ``(…, H, W)``.
        padding: ``int`` (all sides) or ``(top, bottom, left, right)``.
        mode: ``zeros``, ``circular``, ``reflect`` (edge not repeated), ``symmetric``
            (edge repeated) or ``replicate``.

    Returns:
        ``(…, H + top + bottom, W + left + right)``.
    """
    top, bottom, left, right = normalize_pad(padding)
    _check_mode(mode)
    if x.dim() < 2:
        raise InputError(f"pad needs a tensor with at least 2 dims (…, H, W), got shape {tuple(x.shape)}")
    if top == bottom == left == right == 0:
        return x
    H, W = x.shape[-2:]
    if mode == "zeros":
        return torch.nn.functional.pad(x, (left, right, top, bottom))
    if _fpad_ok(mode, H, W, (top, bottom, left, right)) and x.dim() in (3, 4):
        # fast path: F.pad is much faster than the gather when its limits allow
        return torch.nn.functional.pad(x, (left, right, top, bottom), mode=mode)
    out = _gather(x, x.dim() - 2, pad_indices(H, top, bottom, mode, x.device))
    return _gather(out, x.dim() - 1, pad_indices(W, left, right, mode, x.device))


def pad_adjoint(y: Tensor, padding: int | Sequence[int], mode: str = "zeros") -> Tensor:
    """Exact adjoint of :func:`pad`: margin values are added back onto their sources.

    Args:
        y: tensor ``(…, H + top + bottom, W + left + right)``.
        padding, mode: as given to :func:`pad`.

    Returns:
        ``(…, H, W)`` with ``⟨pad(x), y⟩ = ⟨x, pad_adjoint(y)⟩``.
    """
    top, bottom, left, right = normalize_pad(padding)
    _check_mode(mode)
    Hp, Wp = y.shape[-2:]
    H, W = Hp - top - bottom, Wp - left - right
    if H < 1 or W < 1:
        raise InputError(f"pad_adjoint: margins {(top, bottom, left, right)} leave no interior in a {Hp}x{Wp} tensor")
    if top == bottom == left == right == 0:
        return y
    if mode == "zeros":
        return y[..., top : top + H, left : left + W]
    out = _scatter(y, y.dim() - 1, pad_indices(W, left, right, mode, y.device), W)
    return _scatter(out, y.dim() - 2, pad_indices(H, top, bottom, mode, y.device), H)

"""Tiled inference with overlap and feathered (raised-cosine) blending.

A large image is cut into ``tile × tile`` windows that overlap by ``overlap`` pixels (the
last window of a row/column is placed flush with the image border, so every window has the
full size). Each window is restored independently and the results are blended with weights
``w_i`` (normalised: ``out = Σ_i w_i f(x_i) / Σ_i w_i``).

The 1-D weight of a window along an *interior* edge (one shared with a neighbour) is, with
``g = overlap // 4`` (the guard band) and ``d`` the distance to the edge in pixels:

* ``0`` for ``d < g`` — the pixels whose restoration sees the artificial tile border;
* a raised-cosine ramp ``sin²(π/2 · (d − g + ½) / (overlap − 2g))`` for ``g ≤ d < overlap − g``;
* ``1`` beyond.

Two neighbours overlapping by exactly ``overlap`` pixels have weights summing to 1
(``sin² + cos² = 1``), and no pixel takes anything from a window whose border is closer
than ``g``. So a model whose receptive-field radius is ≤ ``overlap // 4`` gives the same
result tiled and untiled, up to floating-point rounding (our choice of guard band).
Image borders (not shared) get weight 1.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ..errors import InputError


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of windows of size ``tile`` covering ``[0, length)`` with ≥ ``overlap`` overlap."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def ramp(size: int, overlap: int, rise_start: bool, rise_end: bool, dtype: torch.dtype = torch.float32) -> Tensor:
    """1-D window weights ``(size,)`` with a guarded raised-cosine ramp at interior ends."""
    w = torch.ones(size, dtype=torch.float64)
    if overlap > 0:
        guard = overlap // 4
        width = max(overlap - 2 * guard, 1)
        d = torch.arange(size, dtype=torch.float64)
        up = torch.sin(0.5 * math.pi * ((d - guard + 0.5) / width).clamp(0.0, 1.0)) ** 2
        up[d < guard] = 0.0
        if rise_start:
            w = w * up
        if rise_end:
            w = w * up.flip(0)
    return w.to(dtype)


def feather_window(
    height: int, width: int, overlap: int, top: bool, bottom: bool, left: bool, right: bool, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``(height, width)`` blending weights; ``top``… say which edges are interior."""
    return ramp(height, overlap, top, bottom, dtype)[:, None] * ramp(width, overlap, left, right, dtype)[None, :]


def _check_tile(tile: int, overlap: int, multiple: int) -> int:
    tile = (int(tile) // multiple) * multiple
    if tile <= 0:
        raise InputError(f"--tile must be at least the pipeline's size multiple ({multiple})")
    if not 0 <= overlap < tile:
        raise InputError(f"--overlap must be in [0, tile) = [0, {tile}), got {overlap}")
    return tile


def tile_count(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """How many windows :func:`tiled_apply` runs for an ``height × width`` image."""
    t = _check_tile(tile, overlap, multiple)
    return len(tile_starts(height, t, overlap)) * len(tile_starts(width, t, overlap))


def tiled_apply(
    fn: Callable[..., Tensor],
    image: Tensor,
    tile: int,
    overlap: int,
    multiple: int = 1,
    with_position: bool = False,
) -> Tensor:
    """Apply ``fn`` (``(B, C, h, w) → (B, C', h, w)``) to ``image`` ``(B, C, H, W)`` tile by tile.

    Args:
        fn: the restoration of one window; must keep the spatial size. With
            ``with_position`` it is called as ``fn(window, y0, x0)``.
        image: the input.
        tile: window size (rounded down to a multiple of ``multiple``).
        overlap: overlap between neighbouring windows (< ``tile``).
        multiple: the pipeline's ``size_multiple``.

    Returns:
        ``(B, C', H, W)``, blended as described in the module docstring, on ``image``'s device.
    """
    if image.dim() != 4:
        raise InputError(f"tiled inference needs (B, C, H, W), got {tuple(image.shape)}")
    tile = _check_tile(tile, overlap, multiple)
    H, W = image.shape[-2:]
    out: Tensor | None = None
    weight = torch.zeros(1, 1, H, W, dtype=torch.float32, device=image.device)
    for y0 in tile_starts(H, tile, overlap):
        th = min(tile, H - y0)
        for x0 in tile_starts(W, tile, overlap):
            tw = min(tile, W - x0)
            window = image[..., y0 : y0 + th, x0 : x0 + tw]
            result = fn(window, y0, x0) if with_position else fn(window)
            if result.shape[-2:] != (th, tw):
                raise InputError(f"the model changed a tile's size from {(th, tw)} to {tuple(result.shape[-2:])}")
            if out is None:
                out = torch.zeros(result.shape[0], result.shape[1], H, W, dtype=result.dtype, device=image.device)
            w = feather_window(th, tw, overlap, y0 > 0, y0 + th < H, x0 > 0, x0 + tw < W).to(image.device)
            out[..., y0 : y0 + th, x0 : x0 + tw] += result.to(out.dtype) * w.to(out.dtype)
            weight[..., y0 : y0 + th, x0 : x0 + tw] += w
    assert out is not None
    return out / weight.to(out.dtype)

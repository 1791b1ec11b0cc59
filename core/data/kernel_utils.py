"""Small helpers for PSFs in the project convention (true convolution, centre ``(h//2, w//2)``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError


def pad_to(kernel: Tensor, height: int, width: int) -> Tensor:
    """Zero-pad ``(…, h, w)`` to ``(…, height, width)`` keeping the centre at ``(height//2, width//2)``.

    The old centre ``(h//2, w//2)`` lands on the new centre, so the blur it describes is
    unchanged.
    """
    h, w = kernel.shape[-2:]
    top, left = height // 2 - h // 2, width // 2 - w // 2
    bottom, right = height - h - top, width - w - left
    if min(top, left, bottom, right) < 0:
        raise InputError(f"cannot centre a {h}×{w} kernel in {height}×{width}")
    return F.pad(kernel, (left, right, top, bottom))


def to_odd(kernel: Tensor) -> Tensor:
    """Pad an even-sized kernel to odd size (one zero row/column after), keeping its centre.

    Odd sizes make flips and 90° rotations map the centre onto itself.
    """
    h, w = kernel.shape[-2:]
    return pad_to(kernel, h | 1, w | 1)


def compose(k1: Tensor, k2: Tensor) -> Tensor:
    """The kernel of blurring by ``k1`` then ``k2`` (2-D ``(h, w)`` tensors): ``k2 ∗ k1``, odd-sized.

    ``y = k2 ∗ (k1 ∗ x) = (k2 ∗ k1) ∗ x``; the full convolution has its centre at the sum of
    the two centres, so the result is recentred on an odd canvas.
    """
    a, b = to_odd(k1), to_odd(k2)
    hb, wb = b.shape[-2:]
    full = F.conv2d(
        F.pad(a[None, None], (wb - 1, wb - 1, hb - 1, hb - 1)), b.flip(-2, -1)[None, None]
    )[0, 0]  # full convolution, size (ha + hb − 1, wa + wb − 1), centre (ha//2 + hb//2, …)
    return full

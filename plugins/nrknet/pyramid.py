"""Image pyramids used by NRKNet (spec nrknet.md §3–4).

* :func:`nearest_pyramid` — the decimation of the network input and of the reblur's sharp
  image: ``Y_{t+1} = interpolate(Y_t, scale_factor=0.5)`` (PyTorch's default ``nearest``,
  i.e. ``Y_t[..., ::2, ::2]`` for even sizes), exactly as the official code.
* :func:`bilinear_pyramid` — the loss targets: ``interpolate(X, scale_factor=0.5**t,
  mode="bilinear", align_corners=False)`` taken directly from the full image (not
  repeatedly), exactly as the official ``compute_loss``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["nearest_pyramid", "bilinear_pyramid", "upsample_bilinear"]


def nearest_pyramid(x: Tensor, num_scales: int) -> list[Tensor]:
    """``[Y_1 (H), Y_2 (H/2), …]`` finest first, by repeated nearest ×½ decimation."""
    out = [x]
    for _ in range(num_scales - 1):
        out.append(F.interpolate(out[-1], scale_factor=0.5, mode="nearest"))
    return out


def bilinear_pyramid(x: Tensor, num_scales: int) -> list[Tensor]:
    """``[X (H), X↓2, X↓4, …]`` finest first; scale t is bilinear with factor 0.5**t from ``x``."""
    out = [x]
    for t in range(1, num_scales):
        out.append(F.interpolate(x, scale_factor=0.5**t, mode="bilinear", align_corners=False))
    return out


def upsample_bilinear(x: Tensor, factor: int) -> Tensor:
    """Bilinear ×``factor`` upsampling (align_corners = False); identity for factor 1."""
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=float(factor), mode="bilinear", align_corners=False)

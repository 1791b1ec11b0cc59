"""``LayerNorm2d``: LayerNorm over the channels of a ``(B, C, H, W)`` map (NAFNet, AdaRevD)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.Module):
    """Channels-first LayerNorm: each pixel's ``C`` values are normalised, then scaled and shifted.

    ``y[b, :, i, j] = weight ⊙ (x − μ) / √(σ² + eps) + bias`` with ``μ``, ``σ²`` the mean and
    (biased) variance over the channels of pixel ``(i, j)``. NAFNet's ``LayerNorm2d`` (eps 1e-6;
    state-dict keys ``weight``, ``bias``) and AdaRevD's down-path norm (eps 1e-5).

    Shapes: ``(B, C, H, W) → (B, C, H, W)``.

    Args:
        channels: ``C``.
        eps: added to the variance.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.channels = int(channels)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        # F.layer_norm normalises trailing dims, so move C last and back (one fused kernel each way).
        return F.layer_norm(x.permute(0, 2, 3, 1), (self.channels,), self.weight, self.bias, self.eps).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps:g}"


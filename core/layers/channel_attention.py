"""``SimplifiedChannelAttention`` (SCA): NAFNet's channel attention without non-linearities."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["SimplifiedChannelAttention"]


class SimplifiedChannelAttention(nn.Sequential):
    """``x ⊙ W·GAP(x) + b``: global average pooling, a 1×1 convolution, a channel-wise product
    (NAFNet Sec. 3.3, eq. 5).

    A ``Sequential(AdaptiveAvgPool2d(1), Conv2d(C, C, 1))`` whose forward multiplies the
    input by the result, so its state-dict keys are NAFNet's (``1.weight``, ``1.bias``, as in
    ``sca.1.weight``). :meth:`weights` returns the attention alone.

    Shapes: ``(B, C, H, W) → (B, C, H, W)``; the attention is ``(B, C, 1, 1)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels, kernel_size=1, bias=True))

    def weights(self, x: Tensor) -> Tensor:
        """The per-channel attention ``(B, C, 1, 1)``."""
        return super().forward(x)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return x * self.weights(x)

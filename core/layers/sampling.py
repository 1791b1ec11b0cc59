"""Resolution steps of NAFNet-style U-Nets: pixel-shuffle up, strided-conv down."""

from __future__ import annotations

from torch import Tensor, nn

from .norm import LayerNorm2d

__all__ = ["PixelShuffleUpsample", "StridedConvDownsample"]


class PixelShuffleUpsample(nn.Sequential):
    """``PixelShuffle(2)(Conv1×1(C → 2C, no bias))``: doubles the resolution, halves the channels.

    NAFNet's ``ups.i`` (state-dict keys ``0.weight``), and the up path of the U-Nets built on it.

    Shapes: ``(B, C, H, W) → (B, C/2, 2H, 2W)`` (``C`` even).
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, 2 * in_channels, kernel_size=1, bias=False), nn.PixelShuffle(2))
        self.in_channels = int(in_channels)


class StridedConvDownsample(nn.Module):
    """A 2×2 stride-2 convolution with bias, optionally followed by a channels-first LayerNorm.

    Without the norm it is NAFNet's ``downs.i`` (C → 2C); AdaRevD's down path uses
    ``out_channels`` of the finer level and ``norm_eps=1e-5``. State-dict keys ``conv.*`` and
    ``norm.*`` (NAFNet checkpoints name the bare conv ``downs.i.weight``; map ``downs.i.`` → ``downs.i.conv.``).

    Shapes: ``(B, C_in, H, W) → (B, C_out, H/2, W/2)`` (H, W even).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, norm_eps: float | None = None) -> None:
        super().__init__()
        out = int(out_channels) if out_channels is not None else 2 * int(in_channels)
        self.conv = nn.Conv2d(in_channels, out, kernel_size=2, stride=2, bias=True)
        self.norm = LayerNorm2d(out, eps=norm_eps) if norm_eps is not None else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        return self.norm(y) if self.norm is not None else y

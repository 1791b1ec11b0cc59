"""Small building blocks shared by ``standard.simple_encoder`` and ``standard.unet``."""

from __future__ import annotations

from torch import Tensor, nn

from restorekit.layers import check_image  # noqa: F401  (re-exported for the standard networks)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution with zero padding 1 (same size for stride 1, halves for stride 2)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)


class ResBlock(nn.Module):
    """``x + conv3x3(GELU(conv3x3(x)))`` on ``(B, C, H, W)`` → ``(B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.act = nn.GELU()
        self.conv2 = conv3x3(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.act(self.conv1(x)))

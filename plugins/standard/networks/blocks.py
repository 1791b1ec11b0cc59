"""Small building blocks shared by ``standard.simple_encoder`` and ``standard.unet``."""

from __future__ import annotations

from torch import Tensor, nn

from restorekit import InputError


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


def check_image(image: Tensor, in_channels: int, size_multiple: int, who: str) -> None:
    """Raise :class:`InputError` unless ``image`` is a float ``(B, in_channels, H, W)``
    tensor with ``H`` and ``W`` divisible by ``size_multiple``."""
    if not isinstance(image, Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise InputError(f"{who}: the image must be a (B, C, H, W) tensor, got {shape}")
    if not image.is_floating_point():
        raise InputError(f"{who}: the image must be floating point in [0, 1], got {image.dtype}; use image.float() / 255")
    if image.shape[1] != in_channels:
        raise InputError(
            f"{who} was built for in_channels={in_channels} but the image has {image.shape[1]} channel(s); "
            f"set `in_channels: {image.shape[1]}` in its options or convert the image"
        )
    h, w = int(image.shape[-2]), int(image.shape[-1])
    if h % size_multiple or w % size_multiple:
        raise InputError(
            f"{who} needs height and width divisible by {size_multiple}, got {h}×{w}; pad the image "
            f"(e.g. torch.nn.functional.pad with mode='reflect'; `restorekit deblur` pads automatically)"
        )

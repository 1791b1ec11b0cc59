"""Input checks shared by network components, with messages that say how to fix the input."""

from __future__ import annotations

from torch import Tensor

from ..errors import InputError

__all__ = ["check_image"]


def check_image(image: Tensor, in_channels: int, size_multiple: int, who: str, channel_option: str | None = "in_channels") -> None:
    """Raise :class:`restorekit.InputError` unless ``image`` is a float ``(B, in_channels, H, W)``
    tensor with ``H`` and ``W`` divisible by ``size_multiple``. ``channel_option`` names the
    component's option that sets the channel count (``None``: it has none)."""
    if not isinstance(image, Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise InputError(f"{who}: the image must be a (B, C, H, W) tensor, got {shape}")
    if not image.is_floating_point():
        raise InputError(f"{who}: the image must be floating point in [0, 1], got {image.dtype}; use image.float() / 255")
    if image.shape[1] != in_channels:
        fix = f"set `{channel_option}: {image.shape[1]}` in its options or convert the image" if channel_option else (
            f"convert the image to {in_channels} channel(s)"
        )
        raise InputError(f"{who} expects {in_channels}-channel images but the image has {image.shape[1]} channel(s); {fix}")
    h, w = int(image.shape[-2]), int(image.shape[-1])
    if h % size_multiple or w % size_multiple:
        raise InputError(
            f"{who} needs height and width divisible by {size_multiple}, got {h}×{w}; pad the image "
            f"(e.g. torch.nn.functional.pad with mode='reflect'; `restorekit deblur` pads automatically)"
        )

"""``standard.simple_encoder``: a small convolutional feature pyramid."""

from __future__ import annotations

from torch import Tensor, nn

from restorekit import ConfigError, Encoder, Features

from .blocks import ResBlock, check_image, conv3x3


class SimpleEncoder(Encoder):
    """A small conv pyramid: ``Features`` with maps at strides 1, 2, 4, … (our design).

    Level 0 is ``conv3x3(in_channels → widths[0])`` + ResBlock at full resolution; level
    ``i > 0`` is a stride-2 ``conv3x3(widths[i−1] → widths[i])`` + ResBlock. Output
    ``maps[i]`` has shape ``(B, widths[i], H / 2**i, W / 2**i)``; ``H`` and ``W`` must be
    multiples of ``size_multiple = 2**(len(widths) − 1)``.

    Args:
        in_channels: image channels (3 for RGB).
        widths: channels per level, finest first (one level per entry).
    """

    provides = frozenset({"features"})
    requires = frozenset()

    def __init__(self, in_channels: int = 3, widths: list[int] = [16, 32, 64]) -> None:  # noqa: B006 - never mutated; copied below
        super().__init__()
        widths = [int(w) for w in widths]
        if in_channels < 1:
            raise ConfigError(f"standard.simple_encoder: in_channels must be ≥ 1, got {in_channels}")
        if not widths or any(w < 1 for w in widths):
            raise ConfigError(f"standard.simple_encoder: widths must be a non-empty list of positive ints, got {widths}")
        self.in_channels = int(in_channels)
        self.widths = widths
        self.out_channels = list(widths)
        self.out_strides = [2**i for i in range(len(widths))]
        self.size_multiple = self.out_strides[-1]
        levels: list[nn.Module] = []
        prev = self.in_channels
        for i, w in enumerate(widths):
            levels.append(nn.Sequential(conv3x3(prev, w, stride=1 if i == 0 else 2), ResBlock(w)))
            prev = w
        self.levels = nn.ModuleList(levels)

    def forward(self, image: Tensor) -> Features:
        """``image`` ``(B, in_channels, H, W)`` → Features (maps finest first)."""
        check_image(image, self.in_channels, self.size_multiple, "standard.simple_encoder")
        maps: list[Tensor] = []
        x = image
        for level in self.levels:
            x = level(x)
            maps.append(x)
        return Features(maps=maps, channels=list(self.out_channels), strides=list(self.out_strides))

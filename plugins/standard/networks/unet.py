"""``standard.unet``: a small residual U-Net decoder (restored = image + net(image))."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import BlurEstimate, ConfigError, Decoder, DecoderOutput, Features, InputError, Operator

from .blocks import ResBlock, check_image, conv3x3


class UNet(Decoder):
    """Residual U-Net: ``restored = image + R(image)`` (our design, a generic baseline).

    Architecture, with ``c_i = width · 2**i``:

    * head ``conv3x3(in_channels [+1 blur-map channel] → c_0)``;
    * encoder level ``i = 0 … depth−1``: [+ projected encoder features at stride 2**i],
      ResBlock(c_i) (kept as skip), stride-2 ``conv3x3(c_i → c_{i+1})``;
    * bottleneck: [+ features at stride 2**depth], ResBlock(c_depth);
    * decoder level ``i = depth−1 … 0``: ``ConvTranspose2d(c_{i+1} → c_i, 2, stride 2)``,
      concatenation with the skip, ``conv1x1(2c_i → c_i)``, ResBlock(c_i);
    * tail ``conv3x3(c_0 → in_channels)`` giving the residual R. With ``zero_init`` (default)
      the tail starts at zero, so the untrained decoder is exactly the identity.

    Options that add inputs (and so change ``requires``):

    * ``use_features`` — adds the encoder's ``Features`` maps at strides 1, 2, 4, … to the
      U-Net levels of the same stride, each through a learned ``conv1x1(feature channels →
      c_i)``. ``feature_channels[i]`` is the channel count of the map at stride ``2**i``
      (up to ``depth + 1`` entries); ``None`` means ``[c_0, …, c_depth]``, the layout of
      ``standard.simple_encoder`` with ``widths: [width, 2·width, …]`` (its defaults match
      this decoder's defaults). ``requires = {"features"}``.
    * ``use_blur_map`` — concatenates ``BlurEstimate.map`` ``(B, 1, h, w)``, resized
      bilinearly to ``(H, W)``, as an extra input channel. ``requires = {"map"}``.

    Input ``(B, in_channels, H, W)`` with ``H, W`` multiples of ``size_multiple = 2**depth``;
    output ``DecoderOutput(restored, intermediates=[restored])``, restored of the input's
    shape.

    Args:
        in_channels: image channels (3 for RGB).
        width: channels at full resolution (doubles per level).
        depth: number of down-sampling levels (≥ 1).
        use_features: add the encoder's features (see above).
        use_blur_map: condition on the blur map (see above).
        feature_channels: channels of the encoder maps at strides 1, 2, 4, … (with ``use_features``).
        zero_init: initialise the tail to zero (identity at initialisation).
    """

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 16,
        depth: int = 2,
        use_features: bool = False,
        use_blur_map: bool = False,
        feature_channels: list[int] | None = None,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"standard.unet: in_channels must be ≥ 1, got {in_channels}")
        if width < 1:
            raise ConfigError(f"standard.unet: width must be ≥ 1, got {width}")
        if depth < 1:
            raise ConfigError(f"standard.unet: depth must be ≥ 1, got {depth}")
        if feature_channels is not None and not use_features:
            raise ConfigError("standard.unet: feature_channels is only used with `use_features: true`; set it or remove feature_channels")
        self.in_channels = int(in_channels)
        self.width = int(width)
        self.depth = int(depth)
        self.use_features = bool(use_features)
        self.use_blur_map = bool(use_blur_map)
        self.size_multiple = 2**self.depth
        chans = [self.width * 2**i for i in range(self.depth + 1)]
        if use_features:
            fc = list(chans) if feature_channels is None else [int(c) for c in feature_channels]
            if not fc or len(fc) > self.depth + 1 or any(c < 1 for c in fc):
                raise ConfigError(
                    f"standard.unet: feature_channels must list 1 to depth+1 = {self.depth + 1} positive channel "
                    f"counts (strides 1, 2, 4, …), got {feature_channels}"
                )
            self.feature_channels: list[int] = fc
        else:
            self.feature_channels = []
        requires = set()
        if self.use_features:
            requires.add("features")
        if self.use_blur_map:
            requires.add("map")
        self.requires = frozenset(requires)

        self.head = conv3x3(self.in_channels + (1 if self.use_blur_map else 0), chans[0])
        self.feature_proj = nn.ModuleList(nn.Conv2d(c, chans[i], kernel_size=1) for i, c in enumerate(self.feature_channels))
        self.enc = nn.ModuleList(ResBlock(chans[i]) for i in range(self.depth))
        self.down = nn.ModuleList(conv3x3(chans[i], chans[i + 1], stride=2) for i in range(self.depth))
        self.mid = ResBlock(chans[self.depth])
        self.up = nn.ModuleList(nn.ConvTranspose2d(chans[i + 1], chans[i], kernel_size=2, stride=2) for i in range(self.depth))
        self.fuse = nn.ModuleList(nn.Conv2d(2 * chans[i], chans[i], kernel_size=1) for i in range(self.depth))
        self.dec = nn.ModuleList(ResBlock(chans[i]) for i in range(self.depth))
        self.tail = conv3x3(chans[0], self.in_channels)
        if zero_init:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    # -- inputs -------------------------------------------------------------------------
    def _blur_map(self, image: Tensor, estimate: BlurEstimate | None) -> Tensor:
        blur = estimate.map if estimate is not None else None
        if blur is None:
            raise InputError(
                "standard.unet has use_blur_map: true but the blur estimate has no 'map'; add a blur estimator "
                "that provides a map (e.g. dramnet.laplacian_bme) or set use_blur_map: false"
            )
        if blur.dim() != 4 or blur.shape[1] != 1 or blur.shape[0] not in (1, image.shape[0]):
            raise InputError(f"standard.unet: the blur map must be (B, 1, h, w) with B = {image.shape[0]}, got {tuple(blur.shape)}")
        blur = F.interpolate(blur.to(image.dtype), size=image.shape[-2:], mode="bilinear", align_corners=False)
        return blur.expand(image.shape[0], -1, -1, -1)

    def _feature_maps(self, image: Tensor, features: Features | None) -> list[Tensor]:
        if features is None:
            raise InputError(
                "standard.unet has use_features: true but the pipeline has no encoder features; add an encoder "
                "(e.g. standard.simple_encoder) or set use_features: false"
            )
        by_stride = dict(zip(features.strides, zip(features.maps, features.channels)))
        out: list[Tensor] = []
        for i, c in enumerate(self.feature_channels):
            stride = 2**i
            if stride not in by_stride:
                raise InputError(
                    f"standard.unet needs an encoder feature map at stride {stride} (feature_channels has "
                    f"{len(self.feature_channels)} entries) but the encoder gives strides {list(features.strides)}; "
                    f"shorten feature_channels or change the encoder"
                )
            fmap, declared = by_stride[stride]
            expect = (image.shape[0], c, image.shape[-2] // stride, image.shape[-1] // stride)
            if tuple(fmap.shape) != expect:
                raise InputError(
                    f"standard.unet: the encoder map at stride {stride} has shape {tuple(fmap.shape)} "
                    f"(declared {declared} channels), expected {expect}; set feature_channels to the encoder's "
                    f"channels {list(features.channels)}"
                )
            out.append(fmap)
        return out

    # -- forward ------------------------------------------------------------------------
    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate | None,
        operator: Operator | None,
    ) -> DecoderOutput:
        """``image`` ``(B, in_channels, H, W)`` → ``DecoderOutput(restored = image + R)``."""
        check_image(image, self.in_channels, self.size_multiple, "standard.unet")
        x = torch.cat([image, self._blur_map(image, estimate)], dim=1) if self.use_blur_map else image
        fmaps = self._feature_maps(image, features) if self.use_features else []
        h = self.head(x)
        skips: list[Tensor] = []
        for i in range(self.depth):
            if i < len(fmaps):
                h = h + self.feature_proj[i](fmaps[i])
            h = self.enc[i](h)
            skips.append(h)
            h = self.down[i](h)
        if self.depth < len(fmaps):
            h = h + self.feature_proj[self.depth](fmaps[self.depth])
        h = self.mid(h)
        for i in reversed(range(self.depth)):
            h = self.up[i](h)
            h = self.dec[i](self.fuse[i](torch.cat([h, skips[i]], dim=1)))
        restored = image + self.tail(h)
        return DecoderOutput(restored=restored, intermediates=[restored])

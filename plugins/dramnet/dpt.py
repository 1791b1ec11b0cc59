"""The DPT depth head of Depth-Anything-V2 (``depth_anything_v2/dpt.py``, ``util/blocks.py``;
specs/dramnet.md §1.3), with the official module names so that ``depth_head.*`` keys load as is.

``use_bn = False``, ``use_clstoken = False``, ``expand = False``, ``align_corners = True``.
"""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DPTHead", "FeatureFusionBlock", "ResidualConvUnit"]


class ResidualConvUnit(nn.Module):
    """``x + conv2(ReLU(conv1(ReLU(x))))`` (3×3 convs with bias, no BN). Shapes: ``(B, F, h, w)`` kept."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.activation = nn.ReLU(False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(self.activation(x))
        out = self.conv2(self.activation(out))
        return out + x


class FeatureFusionBlock(nn.Module):
    """``out_conv(up(resConfUnit2(x0 + resConfUnit1(x1))))``; ``up`` is bilinear
    (align_corners = True) to ``size`` or ×2. With one input the skip branch is skipped
    (``refinenet4``, whose ``resConfUnit1`` exists in the state dict but is unused)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1, bias=True)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, *xs: Tensor, size: Sequence[int] | None = None) -> Tensor:
        output = xs[0]
        if len(xs) == 2:
            output = output + self.resConfUnit1(xs[1])
        output = self.resConfUnit2(output)
        if size is None:
            output = F.interpolate(output, scale_factor=2.0, mode="bilinear", align_corners=True)
        else:
            output = F.interpolate(output, size=tuple(int(s) for s in size), mode="bilinear", align_corners=True)
        return self.out_conv(output)


class _Scratch(nn.Module):
    """Container with the official attribute names (``scratch.layer1_rn`` … ``scratch.output_conv2``)."""

    def __init__(self, out_channels: Sequence[int], features: int) -> None:
        super().__init__()
        for i, c in enumerate(out_channels, start=1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(c, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(self, f"refinenet{i}", FeatureFusionBlock(features))
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(True),
            nn.Identity(),
        )


class DPTHead(nn.Module):
    """DPT head: reassemble 4 token maps, fuse coarse → fine, predict a relative inverse depth.

    Per tap ``i``: tokens → ``(B, C, h, w)`` → ``projects.i`` (1×1, C → out_channels[i]) →
    ``resize_layers.i`` (ConvT 4×4 s4, ConvT 2×2 s2, identity, Conv 3×3 s2) →
    ``scratch.layer{i+1}_rn`` (3×3 → ``features``, no bias); then ``refinenet4`` … ``refinenet1``;
    ``output_conv1`` (3×3, F → F/2), bilinear resize (align_corners = True) to ``14h × 14w``,
    ``output_conv2`` (3×3 → 32, ReLU, 1×1 → 1, ReLU).

    Shapes: 4 × ``(B, h·w, C)`` → ``(B, 1, 14h, 14w)``, ≥ 0 (disparity).
    """

    def __init__(self, in_channels: int, features: int, out_channels: Sequence[int]) -> None:
        super().__init__()
        oc = [int(c) for c in out_channels]
        self.projects = nn.ModuleList([nn.Conv2d(in_channels, c, 1) for c in oc])
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = _Scratch(oc, features)

    def forward(self, taps: Sequence[Tensor], patch_h: int, patch_w: int) -> Tensor:
        layers = []
        for i, x in enumerate(taps):
            x = x.permute(0, 2, 1).reshape(x.shape[0], x.shape[-1], patch_h, patch_w)
            layers.append(self.resize_layers[i](self.projects[i](x)))
        s = self.scratch
        l1, l2, l3, l4 = s.layer1_rn(layers[0]), s.layer2_rn(layers[1]), s.layer3_rn(layers[2]), s.layer4_rn(layers[3])
        path4 = s.refinenet4(l4, size=l3.shape[2:])
        path3 = s.refinenet3(path4, l3, size=l2.shape[2:])
        path2 = s.refinenet2(path3, l2, size=l1.shape[2:])
        path1 = s.refinenet1(path2, l1)
        out = s.output_conv1(path1)
        out = F.interpolate(out, (patch_h * 14, patch_w * 14), mode="bilinear", align_corners=True)
        return s.output_conv2(out)

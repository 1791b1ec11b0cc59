"""``aibnet.decoder``: chained SFDH/HFS sub-decoders (specs/aibnet.md §5).

One sub-decoder (``width`` w; the paper's layout mirrors the NAFNet/AdaRevD decoder)::

    level  input              blocks                      output
    D4     up(e5) + f⁴        N × SFDH(8w) + HFS(8w)      d⁴ (8w, H/8)
    D3     up(d⁴) + f³        N × SFDH(4w) + HFS(4w)      d³ (4w, H/4)
    D2     up(d³) + f²        N × SFDH(2w) + HFS(2w)      d² (2w, H/2)
    D1     up(d²) + f¹        N × SFDH(w)  + HFS(w)       d¹ (w, H)
    Î_s = I + Conv3×3 w→3 (d¹_s)

with ``up`` = :class:`restorekit.layers.PixelShuffleUpsample` (1×1 C→2C no bias, PixelShuffle 2).
Sub-decoder ``s`` takes ``f^i = d^i_{s−1}`` (``d^i_0 = e^i``, the encoder's maps) and the
unchanged ``e5``; there is no fusion module.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import BlurEstimate, ConfigError, Decoder, DecoderOutput, Features, InputError, Operator, PieceSpec
from restorekit.layers import PixelShuffleUpsample, check_image, feature_pyramid_spec

from .blocks import HFSBlock, SFDHBlock

__all__ = ["AIBNetDecoder", "SubDecoder", "VARIANTS"]

VARIANTS: dict[str, int] = {"S": 1, "B": 2, "L": 4}
"""AIBNet-S/B/L: the number of chained sub-decoders."""

LEVELS = 4
STRIDES = [1, 2, 4, 8, 16]


class DecoderLevel(nn.Module):
    """One level: ``up(x) + skip`` → N SFDHBlocks → (optional) HFSBlock."""

    def __init__(self, in_channels: int, num_blocks: int, hfs: bool, sfem: bool, block_options: dict, hfs_options: dict) -> None:
        super().__init__()
        c = in_channels // 2
        self.up = PixelShuffleUpsample(in_channels)
        self.blocks = nn.Sequential(*[SFDHBlock(c, index=i + 1, sfem=sfem, **block_options) for i in range(num_blocks)])
        self.hfs = HFSBlock(c, **hfs_options) if hfs else None

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        y = self.blocks(self.up(x) + skip)
        return self.hfs(y) if self.hfs is not None else y


class SubDecoder(nn.Module):
    """One AIBNet sub-decoder: levels D4 → D1 and its head (see the module docstring).

    ``forward(e5, skips)`` with ``skips = [f¹, f², f³, f⁴]`` (finest first) returns
    ``(residual (B, out_channels, H, W), [d¹, d², d³, d⁴])``.
    """

    def __init__(self, width: int, num_blocks: int, out_channels: int, hfs: bool, sfem: bool, block_options: dict, hfs_options: dict) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(LEVELS + 1)]
        # levels[0] is D4 (coarsest), levels[3] is D1
        self.levels = nn.ModuleList(
            DecoderLevel(widths[i + 1], num_blocks, hfs, sfem, block_options, hfs_options) for i in reversed(range(LEVELS))
        )
        self.head = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, e5: Tensor, skips: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        x = e5
        outs: list[Tensor] = []
        for level, skip in zip(self.levels, reversed(skips)):
            x = level(x, skip)
            outs.append(x)
        return self.head(x), outs[::-1]


class AIBNetDecoder(Decoder):
    """AIBNet decoder: s chained SFDH/HFS sub-decoders, each adding its residual to the image.

    Needs ``features``: five maps (finest first) with channels ``[w, 2w, 4w, 8w, 16w]`` at
    strides ``[1, 2, 4, 8, 16]`` (``aibnet.nafnet_encoder`` of the same width), or any five
    maps at those strides with ``feature_adapter: conv1x1`` and their ``feature_channels``.

    Output: ``restored = Î_s`` (the last sub-decoder), ``intermediates = [Î_s, …, Î_1]`` (last
    first, the interface's order), every ``Î_k = I + head_k(d¹_k)`` of shape ``(B, C, H, W)``.
    Progressive training (spec §5–6) puts one loss set on each ``intermediates`` entry
    (``target: intermediates`` with one-hot ``scale_weights``) and trains
    ``decoder.subdecoders.k`` alone in stage k (see ``pipelines/aibnet_b.yaml``).

    Sizes: the features may come from a padded image (``aibnet.nafnet_encoder`` pads to a
    multiple of 16); the image is then zero-padded on the right and bottom to the finest
    map's size × its stride, and every output is cropped back to ``H × W``. Any ``H × W``
    works with the NAFNet encoder.

    Default (w = 64, N = 8, n_m = 4): 40,971,642 parameters per sub-decoder (SFDH(64) 60,354,
    HFS(64) 19,157; spec §7).

    Args:
        variant: ``"S"``, ``"B"`` or ``"L"`` — 1, 2 or 4 sub-decoders (AIBNet-S/B/L).
        num_subdecoders: s, instead of ``variant`` (both given: they must agree).
        width: w, channels of the finest level (64).
        num_blocks: N, SFDH blocks per level (8).
        num_masks: n_m, top-k masks per HFSBlock (4; Table 4).
        mask_ratios: kept fraction of each mask (default i/(i+1): 1/2, 2/3, 3/4, 4/5).
        head_channels: channels per attention head (64: h = c/64; narrower widths use one head).
        sfem: SFEM branch in every SFDHBlock (Table 3 ablation: false).
        hfs: an HFSBlock after every level (Table 3 ablation: false).
        decoupler_kernel: k of the HFS Decoupler (3).
        decoupler_groups: G of the HFS Decoupler (8).
        out_channels: image channels (3).
        feature_adapter: ``"none"`` — the features must have the decoder's channels; ``"conv1x1"``
            — a 1×1 conv (with bias) per map from ``feature_channels`` to the decoder's.
        feature_channels: the encoder's channels per map (finest first); required for
            ``conv1x1``; with ``none`` they must equal the decoder's.
        head_init: ``"default"`` (PyTorch's init, as the paper does not say otherwise) or
            ``"zero"`` (our option for short runs: every head starts at 0, so every Î_k starts
            as the blurry input and a new sub-decoder never changes the chain's output).

    Choices:
        - sub-decoder layout: 4 levels D4→D1 of N = 8 SFDH + 1 HFS, pixel-shuffle up, Conv3×3 head
          (our choice: the paper gives no layer table; it mirrors the NAFNet/AdaRevD decoder, spec §5,
          and reproduces the paper's 41.1 M parameters and 114 G conv MACs)
        - residual output Î_k = I + head_k(d¹_k) for every sub-decoder (paper Sec. 3.4; spec §5)
        - chaining f^i = d^i_{k−1} with the unchanged e5, no fusion module (paper Sec. 3.4, Table 6)
        - SCA branch = NAFNet's spatial path (our choice: Fig. 2d "the SCA proposed in NAFNet"); FFN
          with a 3×3 depthwise conv; no β/γ residual scales (paper eq. 1)
        - W a learnable scalar, init 1 (our choice: the paper says "learnable parameter")
        - SFEM heads of 64 channels, Q and K L2-normalised over HW (our choice: Restormer's MDTA,
          logits independent of the resolution)
        - temperature β per head, init √64 (paper eq. 2 "√C"; our reading: C = channels per head)
        - α = exp(α_Q1·α_K1) − exp(α_Q2·α_K2) + α_init, one per block shared by its heads (paper eq. 3);
          α_init(l) = 0.8 − 0.6·exp(−0.3(l − 1)), l the block index in its level (our choice:
          Differential Transformer's schedule)
        - HFS masks keep k_i = ⌊d·i/(i+1)⌋ logits per row, n_m = 4 (paper eq. 5, Table 4); the others
          are set to −∞ (our choice: DRSformer; the paper says "set to 0" but calls M_i sparse);
          λ_i init 0.2 (our choice: DRSformer); no output projection (paper eq. 4)
        - Decoupler = the high-frequency part of FSNet's dynamic_filter, k = 3, G = 8 (our choice:
          FSNet's defaults)
        - Σ_i λ_i M_i is formed before the product with V (our choice: the same value, one matmul)
        - feature adapter for other encoders: an explicit 1×1 conv per map, never a resize (our choice)
        - head_init "zero" for short runs (our choice; the paper does not state its init)
    """

    provides = frozenset()
    requires = frozenset({"features"})

    def __init__(
        self,
        variant: Literal["S", "B", "L"] | None = None,
        num_subdecoders: int | None = None,
        width: int = 64,
        num_blocks: int = 8,
        num_masks: int = 4,
        mask_ratios: list[float] | None = None,
        head_channels: int = 64,
        sfem: bool = True,
        hfs: bool = True,
        decoupler_kernel: int = 3,
        decoupler_groups: int = 8,
        out_channels: int = 3,
        feature_adapter: Literal["none", "conv1x1"] = "none",
        feature_channels: list[int] | None = None,
        head_init: Literal["default", "zero"] = "default",
    ) -> None:
        super().__init__()
        name = "aibnet.decoder"
        if variant is not None and variant not in VARIANTS:
            raise ConfigError(f"{name}: variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if num_subdecoders is None:
            num_subdecoders = VARIANTS[variant or "S"]
        elif variant is not None and VARIANTS[variant] != num_subdecoders:
            raise ConfigError(
                f"{name}: variant {variant} has {VARIANTS[variant]} sub-decoder(s) but num_subdecoders is {num_subdecoders}; "
                f"give only one of them"
            )
        if num_subdecoders < 1:
            raise ConfigError(f"{name}: num_subdecoders must be ≥ 1, got {num_subdecoders}")
        if width < 1 or num_blocks < 0 or out_channels < 1:
            raise ConfigError(f"{name}: width and out_channels must be ≥ 1 and num_blocks ≥ 0, got {width}, {out_channels}, {num_blocks}")
        if feature_adapter not in ("none", "conv1x1"):
            raise ConfigError(f"{name}: feature_adapter must be 'none' or 'conv1x1', got {feature_adapter!r}")
        self.width, self.num_blocks, self.out_channels = int(width), int(num_blocks), int(out_channels)
        self.channels = [self.width * 2**i for i in range(LEVELS + 1)]
        self.strides = list(STRIDES)
        self.feature_adapter = feature_adapter
        if feature_channels is not None:
            feature_channels = [int(c) for c in feature_channels]
            if len(feature_channels) != LEVELS + 1 or any(c < 1 for c in feature_channels):
                raise ConfigError(f"{name}: feature_channels must list 5 positive channel counts (finest first), got {feature_channels}")
        if feature_adapter == "none":
            if feature_channels is not None and feature_channels != self.channels:
                raise ConfigError(
                    f"{name}: feature_channels {feature_channels} differ from the decoder's {self.channels} (width {self.width}); "
                    f"set feature_adapter: conv1x1 to map them with 1×1 convs, or width: {feature_channels[0]} if they are a "
                    f"NAFNet pyramid"
                )
            self.feature_channels = list(self.channels)
            self.adapter = None
        else:
            if feature_channels is None:
                raise ConfigError(f"{name}: feature_adapter: conv1x1 needs feature_channels (the encoder's channels per map, finest first)")
            self.feature_channels = feature_channels
            self.adapter = nn.ModuleList(nn.Conv2d(cin, cout, 1) for cin, cout in zip(feature_channels, self.channels))
        block_options = {"head_channels": head_channels}
        hfs_options = {
            "num_masks": num_masks,
            "mask_ratios": mask_ratios,
            "head_channels": head_channels,
            "decoupler_kernel": decoupler_kernel,
            "decoupler_groups": decoupler_groups,
        }
        self.subdecoders = nn.ModuleList(
            SubDecoder(self.width, self.num_blocks, self.out_channels, hfs, sfem, block_options, hfs_options)
            for _ in range(num_subdecoders)
        )
        if head_init not in ("default", "zero"):
            raise ConfigError(f"{name}: head_init must be 'default' or 'zero', got {head_init!r}")
        if head_init == "zero":
            for sub in self.subdecoders:
                nn.init.zeros_(sub.head.weight)
                nn.init.zeros_(sub.head.bias)
        # The feature maps must be multiples of 16 (four ×2 levels). aibnet.nafnet_encoder pads
        # internally, but another encoder (e.g. dramnet.depth_anything in a mix) does not, so the
        # pipeline asks for multiples of 16 (lcm with the encoder's: 112 with the ViT/14);
        # `restorekit deblur` pads any image to it and crops back.
        self.size_multiple = 16

    # -- contract -----------------------------------------------------------------------
    def requires_spec(self) -> dict[str, PieceSpec]:
        if self.adapter is None:
            hint = (
                f"aibnet.decoder (width {self.width}) needs channels {self.channels} at strides {self.strides}: give the encoder "
                f"the same width, or set feature_adapter: conv1x1 with feature_channels: [the encoder's channels]"
            )
        else:
            hint = f"set feature_channels to the encoder's channels; the maps must have strides {self.strides} (an adapter never resizes)"
        return {"features": feature_pyramid_spec(self.feature_channels, self.strides, hint)}

    # -- forward --------------------------------------------------------------------------
    def _check_features(self, image: Tensor, features: Features | None) -> tuple[int, int]:
        """The padded size ``(Hp, Wp)`` the features describe; raise on a mismatched pyramid."""
        if features is None:
            raise InputError("aibnet.decoder needs encoder features; add an encoder (e.g. aibnet.nafnet_encoder) to the pipeline")
        if list(features.channels) != self.feature_channels or list(features.strides) != self.strides:
            raise InputError(
                f"aibnet.decoder expects features with channels {self.feature_channels} at strides {self.strides}, got channels "
                f"{list(features.channels)} at strides {list(features.strides)}; "
                + (
                    "set feature_adapter: conv1x1 and feature_channels to the encoder's channels"
                    if list(features.strides) == self.strides
                    else "use an encoder with a stride 1/2/4/8/16 pyramid (an adapter never resizes)"
                )
            )
        hp, wp = (int(s) * self.strides[0] for s in features.maps[0].shape[-2:])
        h, w = image.shape[-2:]
        if hp < h or wp < w or hp % 16 or wp % 16:
            raise InputError(
                f"aibnet.decoder: the finest feature map is {hp}×{wp} for a {h}×{w} image; it must cover the image and be a "
                f"multiple of 16 (pad the image to a multiple of 16 in the encoder, as aibnet.nafnet_encoder does)"
            )
        for m, s in zip(features.maps, self.strides):
            if tuple(m.shape[-2:]) != (hp // s, wp // s) or m.shape[0] != image.shape[0]:
                raise InputError(
                    f"aibnet.decoder: a stride-{s} feature map has shape {tuple(m.shape)}; expected (B={image.shape[0]}, C, {hp // s}, {wp // s})"
                )
        return hp, wp

    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate | None = None,
        operator: Operator | None = None,
    ) -> DecoderOutput:
        """``image`` ``(B, C, H, W)`` and its features → ``Î_s`` and ``[Î_s, …, Î_1]``."""
        check_image(image, self.out_channels, 1, "aibnet.decoder")
        hp, wp = self._check_features(image, features)
        assert features is not None
        maps = list(features.maps)
        if self.adapter is not None:
            maps = [conv(m) for conv, m in zip(self.adapter, maps)]
        maps = [m.to(image.dtype) for m in maps]
        h, w = image.shape[-2:]
        padded = F.pad(image, (0, wp - w, 0, hp - h)) if (hp, wp) != (h, w) else image
        e5, skips = maps[-1], maps[:-1]
        outputs: list[Tensor] = []
        for sub in self.subdecoders:
            residual, skips = sub(e5, skips)
            outputs.append((padded + residual)[..., :h, :w])
        return DecoderOutput(restored=outputs[-1], intermediates=outputs[::-1])

    def extra_repr(self) -> str:
        return (
            f"subdecoders={len(self.subdecoders)}, width={self.width}, num_blocks={self.num_blocks}, "
            f"feature_adapter={self.feature_adapter}"
        )

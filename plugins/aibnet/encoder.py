"""``aibnet.nafnet_encoder``: the encoder part of NAFNet (megvii-research/NAFNet), frozen.

Spec aibnet.md §1. The official ``NAFNet_arch.py`` forward, up to the middle blocks::

    inp = pad(inp) to a multiple of 2**len(encoders)            (zeros, right and bottom)
    x = intro(inp)                                               Conv3×3 3→w
    for encoder, down in zip(encoders, downs):
        x = encoder(x); encs.append(x); x = down(x)              NAFBlocks, then 2×2 s2 conv w→2w
    x = middle_blks(x)

``Features.maps`` are ``encs + [x]``: the four stage outputs *before* each down conv and the
middle output, finest first — (64, H), (128, H/2), (256, H/4), (512, H/8), (1024, H/16) for
NAFNet-64. Loading an official checkpoint: :func:`load_nafnet_checkpoint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import ConfigError, Encoder, Features, InputError, PieceSpec
from restorekit.layers import NAFBlock, StridedConvDownsample, check_image, feature_pyramid_spec

__all__ = [
    "DECODER_PREFIXES",
    "ENCODER_PREFIXES",
    "NAFNetEncoder",
    "load_nafnet_checkpoint",
    "nafnet_encoder_state_dict",
    "read_nafnet_checkpoint",
]

ENCODER_PREFIXES = ("intro.", "encoders.", "downs.", "middle_blks.")
"""Official NAFNet state-dict prefixes of the encoder part (kept when loading)."""
DECODER_PREFIXES = ("ups.", "decoders.", "ending.")
"""Official NAFNet state-dict prefixes of the decoder part (ignored when loading)."""

OFFICIAL_SOURCE = (
    "download the official NAFNet-GoPro-width64.pth from megvii-research/NAFNet (README, 'Results and "
    "Pre-trained Models', GoPro, NAFNet-width64) and give its local path as `weights:`"
)


class NAFNetEncoder(Encoder):
    """NAFNet encoder (intro, NAFBlock stages with 2×2 stride-2 downs, middle blocks), frozen by default.

    Default: NAFNet-64 GoPro (width 64, stages [1, 1, 1, 28], 1 middle block at 1024),
    **62,633,024** parameters — the full NAFNet-64 has 67,888,835; the decoder part
    (ups, decoders, ending; 5,255,811) is not built. Output ``Features`` with
    ``channels = [w, 2w, 4w, 8w, 16w]`` and ``strides = [1, 2, 4, 8, 16]``.

    Input ``(B, in_channels, H, W)`` of any size: it is padded (zeros by default) on the right and bottom
    to a multiple of ``size_multiple_internal = 2**len(enc_blocks)`` (NAFNet's
    ``check_image_size``), and the maps are those of the padded image — map ``i`` is
    ``(B, channels[i], ⌈H/16⌉·16/strides[i], ⌈W/16⌉·16/strides[i])``; equal to ``H/strides[i]``
    when ``H`` is a multiple of 16. A decoder that restores the image crops its output back to
    ``H × W`` (``aibnet.decoder`` does; NAFNet crops at the end of its forward).

    Frozen (``freeze: true``, default): every parameter has ``requires_grad = False``, the
    module stays in ``eval()`` whatever ``train()`` asks, and the forward runs under
    ``torch.no_grad()``. A training stage that makes it trainable (``trainable: [encoder]``)
    re-enables gradients: the forward tracks them whenever a parameter requires them.

    Args:
        width: channels of the first level (64).
        enc_blocks: NAFBlocks per encoder stage ([1, 1, 1, 28]); one map per stage.
        middle_blocks: NAFBlocks at the coarsest level (1).
        in_channels: image channels (3, RGB in [0, 1]).
        weights: path to an official NAFNet checkpoint (``.pth``, key ``params``) whose encoder
            part is loaded (decoder keys ignored); ``null``: random initialisation.
        freeze: keep the encoder frozen (AIBNet Sec. 3.1).
        padding: how sizes that are not multiples of 16 are padded: ``zeros`` (NAFNet) or
            ``reflect`` (our option: no artificial edge for models trained on multiples of 16).

    Choices:
        - NAFNet-64 GoPro as the frozen pretrained encoder (our choice, spec §1: the paper, Sec. 4.1,
          uses UFPNet's encoder, whose kernel-prior branch is not ported; NAFNet is its skeleton)
        - taps e1–e4 before each down conv, e5 after the middle block (official NAFNet forward)
        - zero padding on the right and bottom to a multiple of 16 (NAFNet's check_image_size);
          `padding: reflect` as an option (our choice, used by the tiny pipeline)
        - training-time NAFNet with global pooling in SCA (our choice: not NAFNetLocal's test-time
          local pooling, which the official GoPro test config uses)
        - frozen = requires_grad False + eval() + no_grad (paper Sec. 3.1; spec §1)
        - Table 3 "without pretrained encoder" = weights: null, freeze: false, trained with
          sub-decoder 1 (our reading)
    """

    provides = frozenset({"features"})
    requires = frozenset()

    def __init__(
        self,
        width: int = 64,
        enc_blocks: list[int] = [1, 1, 1, 28],  # noqa: B006 - never mutated; copied below
        middle_blocks: int = 1,
        in_channels: int = 3,
        weights: str | None = None,
        freeze: bool = True,
        padding: Literal["zeros", "reflect"] = "zeros",
    ) -> None:
        super().__init__()
        blocks = [int(n) for n in enc_blocks]
        if padding not in ("zeros", "reflect"):
            raise ConfigError(f"aibnet.nafnet_encoder: padding must be 'zeros' or 'reflect', got {padding!r}")
        self.padding = padding
        if width < 1:
            raise ConfigError(f"aibnet.nafnet_encoder: width must be ≥ 1, got {width}")
        if not blocks or any(n < 0 for n in blocks):
            raise ConfigError(f"aibnet.nafnet_encoder: enc_blocks must be a non-empty list of block counts ≥ 0, got {list(enc_blocks)}")
        if middle_blocks < 0:
            raise ConfigError(f"aibnet.nafnet_encoder: middle_blocks must be ≥ 0, got {middle_blocks}")
        if in_channels < 1:
            raise ConfigError(f"aibnet.nafnet_encoder: in_channels must be ≥ 1, got {in_channels}")
        self.width, self.enc_blocks, self.middle_blocks, self.in_channels = int(width), blocks, int(middle_blocks), int(in_channels)
        official = read_nafnet_checkpoint(weights) if weights is not None else None  # fail fast, before allocating
        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        chan = int(width)
        for n in blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(n)]))
            self.downs.append(StridedConvDownsample(chan, 2 * chan))
            chan *= 2
        self.middle_blks = nn.Sequential(*[NAFBlock(chan) for _ in range(middle_blocks)])
        self.out_channels = [width * 2**i for i in range(len(blocks) + 1)]
        self.out_strides = [2**i for i in range(len(blocks) + 1)]
        self.padder_size = 2 ** len(blocks)
        self.size_multiple = 1  # pads internally
        self.frozen = bool(freeze)
        self.weights_path = weights
        if official is not None:
            load_nafnet_checkpoint(self, official)
        if self.frozen:
            self.requires_grad_(False)
            super().train(False)
            self.gradcheck_exempt = "frozen: the forward runs under no_grad (AIBNet's frozen pretrained encoder, spec §1)"

    # -- contract -----------------------------------------------------------------------
    def provides_spec(self) -> dict[str, PieceSpec]:
        return {"features": feature_pyramid_spec(self.out_channels, self.out_strides)}

    # -- mode -----------------------------------------------------------------------------
    def _tracks_gradients(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def train(self, mode: bool = True) -> "NAFNetEncoder":
        """Frozen encoders stay in eval mode (spec §1); otherwise as ``nn.Module.train``."""
        return super().train(mode and (not self.frozen or self._tracks_gradients()))

    # -- forward --------------------------------------------------------------------------
    def pad(self, image: Tensor) -> Tensor:
        """Pad ``image`` on the right and bottom to a multiple of ``padder_size``: zeros (NAFNet's
        ``check_image_size``) or a mirror image (``padding: reflect``; replicate where the image is
        smaller than the pad)."""
        h, w = image.shape[-2:]
        ph, pw = (-h) % self.padder_size, (-w) % self.padder_size
        if not (ph or pw):
            return image
        if self.padding == "zeros":
            return F.pad(image, (0, pw, 0, ph))
        mode = "reflect" if ph < h and pw < w else "replicate"
        return F.pad(image, (0, pw, 0, ph), mode=mode)

    def forward(self, image: Tensor) -> Features:
        """``image`` ``(B, in_channels, H, W)`` → ``Features`` of the padded image (finest first)."""
        check_image(image, self.in_channels, 1, "aibnet.nafnet_encoder")
        with torch.set_grad_enabled(torch.is_grad_enabled() and self._tracks_gradients()):
            x = self.intro(self.pad(image))
            maps: list[Tensor] = []
            for encoder, down in zip(self.encoders, self.downs):
                x = encoder(x)
                maps.append(x)
                x = down(x)
            maps.append(self.middle_blks(x))
        return Features(maps=maps, channels=list(self.out_channels), strides=list(self.out_strides))

    def extra_repr(self) -> str:
        return f"width={self.width}, enc_blocks={self.enc_blocks}, middle_blocks={self.middle_blocks}, frozen={self.frozen}"


# ---------------------------------------------------------------------------------------
# Official checkpoints
# ---------------------------------------------------------------------------------------


def _official_to_ours(key: str) -> str:
    """``downs.i.weight`` → ``downs.i.conv.weight`` (our downs are StridedConvDownsample);
    every other encoder key is the same."""
    parts = key.split(".")
    if parts[0] == "downs" and len(parts) == 3:
        return f"downs.{parts[1]}.conv.{parts[2]}"
    return key


def _ours_to_official(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "downs" and len(parts) == 4 and parts[2] == "conv":
        return f"downs.{parts[1]}.{parts[3]}"
    return key


def read_nafnet_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """The state dict of an official NAFNet ``.pth`` (``{"params": state_dict}``, read with
    ``torch.load(weights_only=True)``); a ``module.`` prefix (DataParallel) is stripped.

    Raises:
        InputError: the file is missing (naming where the official file comes from), cannot
            be read, or holds no ``params`` state dict.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"aibnet.nafnet_encoder: NAFNet checkpoint '{p}' does not exist; {OFFICIAL_SOURCE} (or set weights: null)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsupported files
        raise InputError(f"aibnet.nafnet_encoder: could not read NAFNet checkpoint '{p}': {exc}") from exc
    if isinstance(obj, Mapping) and "params" in obj and isinstance(obj["params"], Mapping):
        obj = obj["params"]
    elif isinstance(obj, Mapping) and "params_ema" in obj and isinstance(obj["params_ema"], Mapping):
        obj = obj["params_ema"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        keys = sorted(obj)[:5] if isinstance(obj, Mapping) else type(obj).__name__
        raise InputError(
            f"aibnet.nafnet_encoder: '{p}' is not an official NAFNet checkpoint (expected {{'params': state_dict}}, "
            f"found {keys}); {OFFICIAL_SOURCE}"
        )
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def nafnet_encoder_state_dict(official: Mapping[str, Tensor], encoder: NAFNetEncoder) -> dict[str, Tensor]:
    """The encoder part of an official NAFNet state dict under our keys, checked strictly.

    Keys starting with ``ups.``, ``decoders.`` or ``ending.`` (the decoder part) are dropped.

    Raises:
        InputError: missing encoder keys, unexpected keys, or shape mismatches — each named,
            with the option to change when the checkpoint is another NAFNet width/depth.
    """
    ours = encoder.state_dict()
    kept = {_official_to_ours(k): v for k, v in official.items() if k.startswith(ENCODER_PREFIXES)}
    unknown = sorted(k for k in official if not k.startswith(ENCODER_PREFIXES + DECODER_PREFIXES))
    missing = sorted(_ours_to_official(k) for k in ours if k not in kept)
    unexpected = sorted(_ours_to_official(k) for k in kept if k not in ours) + unknown
    hint = (
        f"the encoder is width {encoder.width}, enc_blocks {encoder.enc_blocks}, middle_blocks {encoder.middle_blocks}; "
        f"set these options to the checkpoint's NAFNet configuration (GoPro width64: 64, [1, 1, 1, 28], 1)"
    )
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing encoder keys {_some(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_some(unexpected)}")
        raise InputError(f"aibnet.nafnet_encoder: the checkpoint's encoder keys do not match: {'; '.join(parts)}; {hint}")
    for k, v in kept.items():
        if tuple(v.shape) != tuple(ours[k].shape):
            raise InputError(
                f"aibnet.nafnet_encoder: checkpoint key '{_ours_to_official(k)}' has shape {tuple(v.shape)} but the encoder "
                f"expects {tuple(ours[k].shape)}; {hint}"
            )
        if not v.is_floating_point():
            raise InputError(f"aibnet.nafnet_encoder: checkpoint key '{_ours_to_official(k)}' is {v.dtype}, not floating point")
    return kept


def _some(keys: list[str], limit: int = 8) -> str:
    shown = keys[:limit]
    more = f" … and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{shown}{more}"


def load_nafnet_checkpoint(encoder: NAFNetEncoder, source: str | Path | Mapping[str, Tensor]) -> NAFNetEncoder:
    """Load the encoder part of an official NAFNet checkpoint (a path, or its state dict /
    ``{"params": …}`` mapping) into ``encoder``; strict on the encoder keys, the decoder
    keys are ignored. Returns ``encoder``."""
    if isinstance(source, Mapping):
        state = source["params"] if "params" in source and isinstance(source["params"], Mapping) else source
        state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}
    else:
        state = read_nafnet_checkpoint(source)
    kept = nafnet_encoder_state_dict(state, encoder)
    if any(p.is_meta for p in encoder.parameters()):
        return encoder  # a build on the meta device (memory estimate): keys and shapes checked, nothing to copy
    with torch.no_grad():
        encoder.load_state_dict({k: v.to(encoder.state_dict()[k].dtype) for k, v in kept.items()}, strict=True)
    return encoder

"""``dramnet.depth_anything``: the Depth-Anything-V2 encoder (DINOv2 ViT/14 + DPT head) with the
feature adapter that feeds DRAMNet's reversible decoder (specs/dramnet.md §1).

:class:`DepthAnythingV2` is the official model (``pretrained`` + ``depth_head``, 239 state-dict
keys for vits) and :func:`load_official_state_dict` loads an official ``.pth`` file into it
strictly. :class:`DepthAnythingEncoder` is the pipeline component.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import ConfigError, Encoder, Features, InputError, PieceSpec
from restorekit.layers import check_image

from .dpt import DPTHead
from .vit import OFFICIAL_FILES, PATCH, VARIANTS, DinoV2Backbone, ViTVariant

__all__ = [
    "DepthAnythingEncoder",
    "DepthAnythingV2",
    "FeatureAdapter",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TOKENS_REPRESENTATION",
    "count_parameters",
    "load_official_state_dict",
    "official_keys",
    "pyramid_representation",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TOKENS_REPRESENTATION = "dinov2.patch14.tokens"
"""Contract label of ``Features.extras["tokens"]``: ViT/14 patch tokens, one per 14×14 tile."""
DEPTH_REPRESENTATION = "relative inverse depth (DA-V2 disparity, >= 0)"


def pyramid_representation(channels: list[int]) -> str:
    """Contract label of the adapter pyramid (``Features.maps``, finest first, strides 1…16):
    the shared :func:`restorekit.layers.feature_pyramid_label`, so pyramids of other plugins'
    encoders and decoders compare at build time (aibnet mixes)."""
    from restorekit.layers import feature_pyramid_label

    return feature_pyramid_label(list(channels), [1, 2, 4, 8, 16])


def normalise(image: Tensor) -> Tensor:
    """RGB in [0, 1] → ImageNet-normalised ``(x − mean) / std``."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image - mean) / std


class DepthAnythingV2(nn.Module):
    """The official ``DepthAnythingV2`` (``use_bn = False``, ``use_clstoken = False``).

    ``forward(x)`` takes an ImageNet-normalised ``(B, 3, H, W)`` (H, W multiples of 14) and
    returns the relative inverse depth ``(B, 1, H, W)`` = ReLU(DPT(taps)) — the official
    ``forward`` without its final ``squeeze(1)``. :meth:`taps_and_depth` also returns the taps.
    """

    def __init__(self, variant: ViTVariant) -> None:
        super().__init__()
        self.variant = variant
        self.pretrained = DinoV2Backbone(variant)
        self.depth_head = DPTHead(variant.dim, variant.features, variant.out_channels)

    def taps_and_depth(self, x: Tensor, depth: bool = True) -> tuple[list[Tensor], Tensor | None]:
        h, w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        taps = self.pretrained(x)
        d = F.relu(self.depth_head(taps, h, w)) if depth else None
        return taps, d

    def forward(self, x: Tensor) -> Tensor:
        return self.taps_and_depth(x)[1]  # type: ignore[return-value]


def official_keys(model: DepthAnythingV2) -> dict[str, tuple[int, ...]]:
    """Key → shape of the official state dict of ``model`` (239 keys for vits)."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _where_from(variant: str) -> str:
    if variant in OFFICIAL_FILES:
        repo, name = OFFICIAL_FILES[variant]
        return f"the official file is `{name}` from the Hugging Face repository {repo} (https://huggingface.co/{repo})"
    return "the 'tiny' variant has no released weights (give a file written in the official key layout, or weights: null)"


def read_official_file(path: str | Path, variant: str) -> dict[str, Tensor]:
    """``torch.load(path, weights_only=True)`` of an official checkpoint, with clear errors."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(
            f"dramnet.depth_anything: weights file '{p}' does not exist; {_where_from(variant)} — download it once "
            f"and give its local path in `weights:` (restorekit never downloads)"
        )
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling/format problem
        raise InputError(f"dramnet.depth_anything: '{p}' is not a readable PyTorch state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise InputError(
            f"dramnet.depth_anything: '{p}' must hold a plain state dict (key → tensor) as the official "
            f"Depth-Anything-V2 files do, got {type(state).__name__}"
        )
    return dict(state)


def load_official_state_dict(model: DepthAnythingV2, state: Mapping[str, Tensor] | str | Path, variant: str | None = None) -> None:
    """Load an official Depth-Anything-V2 state dict (or file) strictly into ``model``.

    Raises:
        InputError: missing or unexpected keys (named), a shape mismatch (named, with the
            variant that fits), a missing or unreadable file (says where the file comes from).
    """
    name = variant or model.variant.name
    if not isinstance(state, Mapping):
        state = read_official_file(state, name)
    expected = official_keys(model)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        def show(keys: list[str]) -> str:
            return "[" + ", ".join(keys[:6]) + (f", … ({len(keys)} in all)" if len(keys) > 6 else "") + "]"

        raise InputError(
            f"dramnet.depth_anything ({name}): the checkpoint does not match the official layout: "
            f"missing keys {show(missing)}, unexpected keys {show(unexpected)}{_variant_for(state)}; for variant "
            f"'{name}' {_where_from(name)}"
        )
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            hint = _variant_for(state)
            raise InputError(
                f"dramnet.depth_anything ({name}): '{key}' is {tuple(state[key].shape)} in the checkpoint but {shape} "
                f"in the model{hint}"
            )
    if any(p.is_meta for p in model.parameters()):
        return  # a build on the meta device (memory estimate): keys and shapes checked, nothing to copy
    model.load_state_dict(dict(state), strict=True)


def _variant_for(state: Mapping[str, Tensor]) -> str:
    cls = state.get("pretrained.cls_token")
    if cls is None:
        return ""
    for name, v in VARIANTS.items():
        if v.dim == cls.shape[-1] and f"pretrained.blocks.{v.depth - 1}.norm1.weight" in state:
            return f"; the file looks like variant '{name}' — set `variant: {name}`"
    return ""


class FeatureAdapter(nn.Module):
    """ViT taps → the decoder pyramid (spec §1.7, our choice).

    ``e_k`` (k = 1…4, stride 2^k) = 1×1 conv (dim → channels[k], bias) of the bilinearly
    resized (align_corners = False) tokens of tap k−1; ``e_0`` (stride 1) = Conv3×3
    (3 → channels[0], bias) on the normalised image. The conv and the resize commute exactly
    (bilinear weights sum to 1), so the conv runs at whichever resolution is smaller (our
    choice: the cheaper order). 740,992 parameters for dim 384 and channels [64, 128, 256, 512, 1024].

    Shapes: image ``(B, 3, H, W)`` + 4 × ``(B, dim, H/14, W/14)`` → ``[(B, channels[k], H/2^k, W/2^k)]``.
    """

    def __init__(self, dim: int, channels: list[int]) -> None:
        super().__init__()
        self.channels = [int(c) for c in channels]
        self.stem = nn.Conv2d(3, self.channels[0], 3, padding=1)
        self.proj = nn.ModuleList([nn.Conv2d(dim, c, 1) for c in self.channels[1:]])

    def forward(self, image: Tensor, token_maps: list[Tensor]) -> list[Tensor]:
        h, w = image.shape[-2:]
        maps = [self.stem(image)]
        for k, (conv, t) in enumerate(zip(self.proj, token_maps), start=1):
            size = (h // 2**k, w // 2**k)
            if size[0] * size[1] >= t.shape[-2] * t.shape[-1]:  # upsampling: conv first (fewer channels to resize)
                maps.append(F.interpolate(conv(t), size=size, mode="bilinear", align_corners=False))
            else:
                maps.append(conv(F.interpolate(t, size=size, mode="bilinear", align_corners=False)))
        return maps


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class DepthAnythingEncoder(Encoder):
    """Depth-Anything-V2 encoder: DINOv2 ViT/14 + DPT depth head + the decoder-pyramid adapter.

    ``forward(image)`` with ``image`` RGB in [0, 1] ``(B, 3, H, W)``, H and W multiples of 14
    (normalised inside with the ImageNet mean/std), returns :class:`restorekit.Features`:

    * ``maps`` — the pyramid ``[e0 (channels[0], H), e1 (H/2), e2 (H/4), e3 (H/8), e4 (H/16)]``
      (:class:`FeatureAdapter`; default channels [64, 128, 256, 512, 1024]);
    * ``extras["depth"]`` — ``(B, 1, H, W)``, the official ``DepthAnythingV2.forward`` output
      (relative inverse depth ≥ 0) — when ``depth: true``;
    * ``extras["tokens"]`` — the last tap's patch tokens as a map ``(B, dim, H/14, W/14)``
      (one token per 14×14 tile), read by ``dramnet.laplacian_bme``.

    Parameters (vits): backbone 22,056,576 + head 2,728,513 = 24,785,089 (the official
    model), + adapter 740,992.

    Args:
        variant: ``vits`` (default), ``vitb``, ``vitl`` (the released DA-V2 models) or
            ``tiny`` (our CPU-sized ViT/14, see :mod:`.vit`).
        weights: path of an official Depth-Anything-V2 ``.pth`` state dict
            (``depth_anything_v2_vits.pth`` from Hugging Face depth-anything/Depth-Anything-V2-Small
            for vits), loaded strictly; ``null``: random initialisation.
        depth_init: Table-4 ablation switch "depth initialisation": ``true`` loads ``weights``;
            ``false`` ignores them and starts from random weights.
        freeze_head: freeze the DPT head (``requires_grad = False``; stage 2 freezes it through
            ``train.stages`` instead).
        freeze_backbone: freeze the ViT.
        channels: adapter output channels ``[e0, e1, e2, e3, e4]``; must equal the decoder's
            ``[c3, c2, c1, c0, 2·c0]``.
        depth: run the DPT head and return ``extras["depth"]`` (needed by the depth losses).

    Choices:
        - timm builds the ViT (``pretrained=False``, never downloads); the forward and the
          position-embedding interpolation are DINOv2's own (+0.1 offset, spec §1.2/§1.5) so
          tokens match the official model at every multiple-of-14 size (our choice: timm's
          own resampling differs by up to ≈0.1 at other sizes)
        - feature adapter: bilinear resize + 1×1 conv per tap, image stem Conv3×3 for e0
          (our choice, spec §1.7: the paper does not say how ViT tokens feed the pyramid)
        - ``tiny`` variant: 4 blocks, width 64, 2 heads, 16² native grid, DPT features 32,
          out_channels [16, 32, 64, 64] (our choice: CPU tests and bundled weights)
        - ``extras["tokens"]`` is the last tap (block 11 for vits) after the final norm
          (our choice, spec §2.2 reading 1 of "attached to the shared encoder")
        - the DPT depth is the official disparity (inverse depth) without any rescaling
          (paper Sec. 3.2 uses it as the depth prior; the SI-log loss is invariant to depth ↔ 1/depth)
    """

    provides = frozenset({"features", "depth", "tokens"})

    def __init__(
        self,
        variant: Literal["vits", "vitb", "vitl", "tiny"] = "vits",
        weights: str | None = None,
        depth_init: bool = True,
        freeze_head: bool = False,
        freeze_backbone: bool = False,
        channels: list[int] = [64, 128, 256, 512, 1024],  # noqa: B006 - copied, never mutated
        depth: bool = True,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"dramnet.depth_anything: variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if len(channels) != 5 or any(int(c) < 1 for c in channels):
            raise ConfigError(
                f"dramnet.depth_anything: channels must list 5 positive widths [e0, e1, e2, e3, e4] "
                f"(default [64, 128, 256, 512, 1024]), got {channels}"
            )
        self.variant = variant
        self.config = VARIANTS[variant]
        self.weights = weights
        self.depth_init = bool(depth_init)
        self.return_depth = bool(depth)
        self.out_channels = [int(c) for c in channels]
        self.out_strides = [1, 2, 4, 8, 16]
        self.size_multiple = PATCH
        self.provides = frozenset({"features", "tokens", *({"depth"} if depth else set())})
        state = read_official_file(weights, variant) if (weights is not None and depth_init) else None  # fail fast
        model = DepthAnythingV2(self.config)
        if state is not None:
            load_official_state_dict(model, state, variant)
        self.pretrained = model.pretrained
        self.depth_head = model.depth_head
        self.adapter = FeatureAdapter(self.config.dim, self.out_channels)
        if freeze_head:
            self.depth_head.requires_grad_(False)
        if freeze_backbone:
            self.pretrained.requires_grad_(False)

    # -- contracts ------------------------------------------------------------------------
    def provides_spec(self) -> dict[str, PieceSpec]:
        spec = {
            "features": PieceSpec(representation=pyramid_representation(self.out_channels), scales=5),
            "tokens": PieceSpec(representation=TOKENS_REPRESENTATION, channels=self.config.dim),
        }
        if self.return_depth:
            spec["depth"] = PieceSpec(representation=DEPTH_REPRESENTATION, channels=1)
        return spec

    # -- the official model view ----------------------------------------------------------
    def official_model(self) -> DepthAnythingV2:
        """A :class:`DepthAnythingV2` sharing this encoder's ``pretrained`` and ``depth_head``."""
        model = DepthAnythingV2.__new__(DepthAnythingV2)
        nn.Module.__init__(model)
        model.variant = self.config
        model.pretrained = self.pretrained
        model.depth_head = self.depth_head
        return model

    def official_state_dict(self) -> dict[str, Tensor]:
        """The ``pretrained.*`` and ``depth_head.*`` tensors in the official layout (239 keys for vits)."""
        return self.official_model().state_dict()

    def load_official(self, state: Mapping[str, Tensor] | str | Path) -> None:
        """Load an official Depth-Anything-V2 state dict or ``.pth`` file strictly."""
        load_official_state_dict(self.official_model(), state, self.variant)

    # -- forward ----------------------------------------------------------------------------
    def forward(self, image: Tensor) -> Features:
        if isinstance(image, Tensor) and image.dim() == 4 and image.shape[1] != 3:
            raise InputError(
                f"dramnet.depth_anything needs RGB images (B, 3, H, W), got {image.shape[1]} channel(s); "
                f"repeat a grey image to 3 channels"
            )
        check_image(image, 3, PATCH, "dramnet.depth_anything")
        x = normalise(image)
        h, w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        taps = self.pretrained(x)
        extras: dict[str, Tensor] = {}
        if self.return_depth:
            extras["depth"] = F.relu(self.depth_head(taps, h, w))
        token_maps = [t.transpose(1, 2).reshape(t.shape[0], t.shape[-1], h, w) for t in taps]
        extras["tokens"] = token_maps[-1]
        maps = self.adapter(x, token_maps)
        return Features(maps=maps, channels=list(self.out_channels), strides=list(self.out_strides), extras=extras)

"""``dramnet.laplacian_bme``: DRAMNet's Laplacian blur-map estimator (paper Sec. 3.1, Fig. 3c;
specs/dramnet.md §2).

Four BME blocks; block ``b`` gives a blur map ``B_pred^b`` in [0, 1] with one score per
``(14·2^b)²``-pixel tile. Trained against the Laplacian target of eq. (1)
(:func:`restorekit.data.laplacian_blur_map`) by the ``dramnet.blur_map`` loss (eq. 8).
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import BlurEstimate, BlurEstimator, ConfigError, Features, InputError, PieceSpec
from restorekit.interfaces import Batch

from .depth_anything import TOKENS_REPRESENTATION

__all__ = ["BLUR_MAP_REPRESENTATION", "BMEBlock", "LaplacianBME"]

BLUR_MAP_REPRESENTATION = "dramnet.laplacian_blur_map"
"""Contract label of the map: eq. (1) units (mean |ΔI_gt − ΔI_blur| of the luminance per tile,
clipped to [0, 1]; typically ≤ 0.2), one score per tile, 0 = sharp."""


class BMEBlock(nn.Module):
    """Two [Conv3×3 + BN + ReLU], a non-overlapping ``pool × pool`` average, a 1×1 conv and a
    sigmoid (Fig. 3c). Returns ``(features, B_pred)``.

    Shapes: ``(B, c_in, h, w) → (B, c, h, w), (B, 1, h/pool, w/pool)``. 74,177 parameters at c_in = c = 64.
    """

    def __init__(self, in_channels: int, width: int, pool: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.pool = int(pool)
        self.score = nn.Conv2d(width, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.body(x)
        pooled = F.avg_pool2d(f, self.pool) if self.pool > 1 else f
        return f, self.score(pooled).sigmoid()


class LaplacianBME(BlurEstimator):
    """Laplacian blur-map estimator: ``B_pred^0 … B_pred^{n−1}``, one score per tile, in [0, 1].

    Two readings of the paper (spec §2.2), chosen by ``input``:

    * ``tokens`` (default, adopted): the BME is "attached to the shared encoder" — it reads
      the encoder's ``extras["tokens"]`` (ViT/14 patch tokens, ``(B, 384, H/14, W/14)`` for
      vits): 1×1 projection 384 → 64, then 4 blocks of width 64; the 14×14-pixel average is
      the identity at block 0 (each token *is* a tile); 3 stride-2 Conv3×3 transitions.
      **432,132** parameters (paper: 0.44 M, −1.8 %).
    * ``image``: the BME runs on the RGB image at image resolution (no ViT needed — e.g. for
      the BME + RKR mix): block 0 takes 3 channels, each block averages ``tile × tile``
      pixels of its own resolution. **372,356** parameters at width 64.

    Block ``b`` gives a map of ``(H/14)/2^b`` (tokens) or ``H/(tile·2^b)`` (image) rows, i.e.
    16², 8², 4², 2² for a 224² input. The decoder uses ``B_pred^0`` (``BlurEstimate.map``);
    all maps go to ``extras["blur_maps"]`` (finest first) for the multi-scale loss.

    Args:
        input: ``tokens`` or ``image`` (see above).
        in_channels: token width (384 for vits, 768 vitb, 1024 vitl, 64 tiny) or 3 for images.
        width: BME width (64).
        num_blocks: number of BME blocks (4).
        tile: pixels per tile side in ``image`` mode (14; ``tokens`` mode is 14 by construction).
        final_transition: add a 4th stride-2 transition after the last block (unused output;
            469,060 parameters in tokens mode — one of the spec's reference configurations).

    Input height and width must be multiples of ``size_multiple`` = 14·2^(n−1) (tokens) or
    tile·2^(n−1) (image): 112 for the defaults.

    Choices:
        - input: ViT tokens at 1/14 resolution by default (our choice, spec §2.2 reading 1; the
          paper says both "attached to the shared encoder" and "averages 14×14 windows")
        - image reading offered as ``input: image`` for pipelines without a ViT (our choice)
        - 1×1 projection 384 → 64 in tokens mode, convs with biases, affine BN, zero padding,
          stride-2 transitions without activation (our choice: not specified)
        - four blocks, 14×14 tiles, sigmoid scores, multi-scale maps (paper Sec. 3.1, Fig. 3c)
        - the decoder reads block 0's map; blocks 1–3 only serve multi-scale supervision
          (our choice, spec §2.2)
    """

    provides = frozenset({"map", "blur_maps"})

    def __init__(
        self,
        input: Literal["tokens", "image"] = "tokens",  # noqa: A002 - the YAML option name
        in_channels: int | None = None,
        width: int = 64,
        num_blocks: int = 4,
        tile: int = 14,
        final_transition: bool = False,
    ) -> None:
        super().__init__()
        if input not in ("tokens", "image"):
            raise ConfigError(f"dramnet.laplacian_bme: input must be 'tokens' or 'image', got {input!r}")
        if width < 1 or num_blocks < 1 or tile < 1:
            raise ConfigError("dramnet.laplacian_bme: width, num_blocks and tile must be positive")
        if input == "tokens" and tile != 14:
            raise ConfigError("dramnet.laplacian_bme: with input: tokens the tile is the ViT patch (14); set input: image to change it")
        self.input = input
        self.in_channels = int(in_channels if in_channels is not None else (384 if input == "tokens" else 3))
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.tile = int(tile)
        self.requires = frozenset({"tokens"}) if input == "tokens" else frozenset()
        self.size_multiple = self.tile * 2 ** (self.num_blocks - 1)
        if input == "tokens":
            self.proj: nn.Module = nn.Conv2d(self.in_channels, self.width, 1)
            first_in, pool = self.width, 1
        else:
            self.proj = nn.Identity()
            first_in, pool = self.in_channels, self.tile
        self.blocks = nn.ModuleList([BMEBlock(first_in if b == 0 else self.width, self.width, pool) for b in range(self.num_blocks)])
        n_trans = self.num_blocks if final_transition else self.num_blocks - 1
        self.transitions = nn.ModuleList([nn.Conv2d(self.width, self.width, 3, stride=2, padding=1) for _ in range(n_trans)])

    def provides_spec(self) -> dict[str, PieceSpec]:
        return {
            "map": PieceSpec(
                representation=BLUR_MAP_REPRESENTATION,
                channels=1,
                hint="dramnet.reversible reads a Laplacian blur map in eq. (1) units (exit threshold 0.01)",
            )
        }

    def requires_spec(self) -> dict[str, PieceSpec]:
        if self.input != "tokens":
            return {}
        return {
            "tokens": PieceSpec(
                representation=TOKENS_REPRESENTATION,
                channels=self.in_channels,
                hint=f"set the BME's in_channels to the ViT width (vits 384, vitb 768, vitl 1024, tiny 64); now {self.in_channels}",
            )
        }

    def _source(self, image: Tensor, features: Features | None) -> Tensor:
        m = self.size_multiple
        if image.shape[-1] % m or image.shape[-2] % m:
            raise InputError(
                f"dramnet.laplacian_bme needs height and width divisible by {m} ({self.tile}·2^{self.num_blocks - 1}), "
                f"got {tuple(image.shape[-2:])}; reflect-pad the image (restorekit deblur does this)"
            )
        if self.input == "image":
            if image.shape[1] != self.in_channels:
                raise InputError(f"dramnet.laplacian_bme (input: image) was built for {self.in_channels} channels, the image has {image.shape[1]}")
            return image
        tokens = features.extras.get("tokens") if features is not None else None
        if tokens is None:
            raise InputError(
                "dramnet.laplacian_bme (input: tokens) needs the encoder's extras['tokens'] (ViT/14 patch tokens); use "
                "encoder dramnet.depth_anything, or set input: image to run the BME on the RGB image"
            )
        expect = (image.shape[0], self.in_channels, image.shape[-2] // 14, image.shape[-1] // 14)
        if tuple(tokens.shape) != expect:
            raise InputError(f"dramnet.laplacian_bme: tokens have shape {tuple(tokens.shape)}, expected {expect} (in_channels {self.in_channels})")
        return tokens

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate, batch: Batch) -> BlurEstimate:
        x = self.proj(self._source(image, features))
        maps: list[Tensor] = []
        for b, block in enumerate(self.blocks):
            f, m = block(x)
            maps.append(m)
            if b < len(self.transitions):
                x = self.transitions[b](f)
        return BlurEstimate(map=maps[0], extras={"blur_maps": maps})

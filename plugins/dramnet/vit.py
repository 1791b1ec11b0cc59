"""The DINOv2 ViT of Depth-Anything-V2, with timm as the weight container (specs/dramnet.md §1.1–1.5).

timm (``vit_small_patch14_dinov2`` and siblings, always created with ``pretrained=False``)
builds the modules and initialises them; :class:`DinoV2Backbone` takes those modules over
under the official DINOv2 names (``cls_token``, ``pos_embed``, ``mask_token``,
``patch_embed.proj``, ``blocks.N``, ``norm``) and runs its own forward, so that

* the state dict equals the ``pretrained.*`` part of an official Depth-Anything-V2 file,
  ``mask_token`` included (timm has none; it is unused at inference, as in DINOv2);
* the position embedding is resized with DINOv2's own ``interpolate_pos_encoding`` rule
  (bicubic, ``scale_factor = ((H/14 + 0.1)/√N, (W/14 + 0.1)/√N)``, no antialiasing, and
  no resizing at all for a square input of the native grid), which timm does not follow at
  other sizes (spec §1.5 caveat) — so the intermediate tokens equal the official model's at
  every multiple-of-14 input size.

Variants (:data:`VARIANTS`): the three released ones (``vits``, ``vitb``, ``vitl``; spec §1.1)
and ``tiny`` (**our choice**, not a released model: a 4-block, 64-wide ViT/14 built with timm's
``VisionTransformer`` for CPU-sized tests, the tiny pipeline and bundled weights of a few MB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["VARIANTS", "ViTVariant", "DinoV2Backbone", "OFFICIAL_FILES"]

PATCH = 14
"""Patch size of every DINOv2 variant; inputs must have sides divisible by it."""


@dataclass(frozen=True)
class ViTVariant:
    """One ViT/14 configuration with its DPT head (spec §1.1).

    Attributes:
        name: ``vits`` | ``vitb`` | ``vitl`` | ``tiny``.
        timm_name: the timm model name (``None``: built from ``VisionTransformer`` directly).
        dim, depth, heads: embedding width, number of blocks, attention heads.
        taps: 0-based block indices whose outputs feed the DPT head.
        features: DPT fusion width.
        out_channels: DPT reassemble widths per tap.
        img_size: side of the native position-embedding grid (518 → 37² patches).
    """

    name: str
    timm_name: str | None
    dim: int
    depth: int
    heads: int
    taps: tuple[int, int, int, int]
    features: int
    out_channels: tuple[int, int, int, int]
    img_size: int = 518

    @property
    def grid(self) -> int:
        return self.img_size // PATCH


VARIANTS: dict[str, ViTVariant] = {
    "vits": ViTVariant("vits", "vit_small_patch14_dinov2", 384, 12, 6, (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": ViTVariant("vitb", "vit_base_patch14_dinov2", 768, 12, 12, (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": ViTVariant("vitl", "vit_large_patch14_dinov2", 1024, 24, 16, (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
    # our choice: a CPU-sized ViT/14 (4 blocks, width 64, 2 heads, 16² native grid) — not released.
    "tiny": ViTVariant("tiny", None, 64, 4, 2, (0, 1, 2, 3), 32, (16, 32, 64, 64), img_size=224),
}

OFFICIAL_FILES: dict[str, tuple[str, str]] = {
    "vits": ("depth-anything/Depth-Anything-V2-Small", "depth_anything_v2_vits.pth"),
    "vitb": ("depth-anything/Depth-Anything-V2-Base", "depth_anything_v2_vitb.pth"),
    "vitl": ("depth-anything/Depth-Anything-V2-Large", "depth_anything_v2_vitl.pth"),
}
"""Hugging Face repository and file name of each released checkpoint (user-supplied by path)."""


def _timm_model(variant: ViTVariant) -> nn.Module:
    import timm
    from timm.models.vision_transformer import VisionTransformer

    common = dict(num_classes=0, init_values=1.0, img_size=variant.img_size, patch_size=PATCH)
    if variant.timm_name is not None:
        return timm.create_model(variant.timm_name, pretrained=False, **common)  # never downloads
    return VisionTransformer(embed_dim=variant.dim, depth=variant.depth, num_heads=variant.heads, mlp_ratio=4.0, **common)


class DinoV2Backbone(nn.Module):
    """DINOv2 ViT/14 (Depth-Anything-V2's ``pretrained``) running the official forward.

    ``LayerNorm`` eps 1e-6, LayerScale (init 1.0), biases on qkv/proj/FFN, no register
    tokens (spec §1.2). :meth:`forward` returns the patch tokens of the ``taps`` blocks after
    the final ``norm`` (cls token dropped), each ``(B, h·w, dim)`` with ``h = H/14``,
    ``w = W/14`` — DINOv2's ``get_intermediate_layers(x, taps, norm=True)``.

    Shapes: ``(B, 3, H, W)`` (ImageNet-normalised, H and W multiples of 14) → 4 × ``(B, h·w, dim)``.
    """

    def __init__(self, variant: ViTVariant) -> None:
        super().__init__()
        vit = _timm_model(variant)
        self.variant = variant
        self.embed_dim = variant.dim
        self.patch_size = PATCH
        self.interpolate_offset = 0.1
        self.cls_token = vit.cls_token
        self.pos_embed = vit.pos_embed
        self.mask_token = nn.Parameter(torch.zeros(1, variant.dim))  # DINOv2 has it (unused here); timm has not
        self.patch_embed = vit.patch_embed
        self.blocks = vit.blocks
        self.norm = vit.norm
        self.taps = tuple(variant.taps)
        if tuple(self.pos_embed.shape) != (1, 1 + variant.grid**2, variant.dim):
            raise RuntimeError(f"timm built pos_embed {tuple(self.pos_embed.shape)} for {variant.name}; expected (1, {1 + variant.grid ** 2}, {variant.dim})")

    def interpolate_pos_encoding(self, num_patches: int, height: int, width: int) -> Tensor:
        """DINOv2's rule: the native grid resized by bicubic interpolation with scale factors
        ``((H/14 + 0.1)/√N, (W/14 + 0.1)/√N)`` (no antialias), kept as is when the input is the
        native square grid. Returns ``(1, 1 + h·w, dim)`` in the embedding's dtype."""
        n = self.pos_embed.shape[1] - 1
        if num_patches == n and height == width:
            return self.pos_embed
        pos = self.pos_embed.float()
        cls_pos, patch_pos = pos[:, :1], pos[:, 1:]
        side = int(math.sqrt(n))
        h0 = height // self.patch_size + self.interpolate_offset
        w0 = width // self.patch_size + self.interpolate_offset
        grid = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=(h0 / math.sqrt(n), w0 / math.sqrt(n)), mode="bicubic", antialias=False)
        if grid.shape[-2:] != (int(h0), int(w0)):  # the official code asserts the same
            raise RuntimeError(f"position-embedding interpolation gave {tuple(grid.shape[-2:])}, expected {(int(h0), int(w0))}")
        patch_pos = grid.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])
        return torch.cat((cls_pos, patch_pos), dim=1).to(self.pos_embed.dtype)

    def tokens(self, x: Tensor) -> Tensor:
        """Patch embedding + cls token + interpolated position embedding: ``(B, 1 + h·w, dim)``."""
        height, width = x.shape[-2:]
        t = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # (B, h·w, dim); DINOv2's PatchEmbed (no norm)
        t = torch.cat((self.cls_token.expand(t.shape[0], -1, -1).to(t.dtype), t), dim=1)
        return t + self.interpolate_pos_encoding(t.shape[1] - 1, height, width).to(t.dtype)

    def forward(self, x: Tensor) -> list[Tensor]:
        t = self.tokens(x)
        out: list[Tensor] = []
        last = max(self.taps)
        for i, block in enumerate(self.blocks):
            t = block(t)
            if i in self.taps:
                out.append(self.norm(t)[:, 1:])
            if i == last:
                break
        return out

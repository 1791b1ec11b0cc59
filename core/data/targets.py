"""Training targets computed from a (sharp, blurry) pair, shared by datasets and losses.

:func:`laplacian_blur_map` is the tile-wise Laplacian blur-map target (defined in its own
docstring, the contract every user of ``blur_map`` relies on): the one definition used both by the data pipeline (which puts ``blur_map`` in the batch when
a dataset sets ``blur_map_tile``) and by losses that recompute it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LUMA_WEIGHTS", "laplacian_blur_map", "luminance", "laplacian"]

LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)
"""BT.601 full-range luma weights of RGB (our choice for the image I of eq. 1)."""


def luminance(image: Tensor) -> Tensor:
    """``(B, 3 | 1, H, W)`` in [0, 1] → ``(B, 1, H, W)``: 0.299 R + 0.587 G + 0.114 B (grey passes through)."""
    if image.dim() != 4 or image.shape[1] not in (1, 3):
        raise ValueError(f"luminance needs a (B, 1 or 3, H, W) image, got {tuple(image.shape)}")
    if image.shape[1] == 1:
        return image
    w = torch.tensor(LUMA_WEIGHTS, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * w).sum(dim=1, keepdim=True)


def laplacian(image: Tensor) -> Tensor:
    """4-neighbour Laplacian ``[[0,1,0],[1,−4,1],[0,1,0]]`` with replicate padding (same size).

    Shapes: ``(B, C, H, W) → (B, C, H, W)``.
    """
    c = image.shape[1]
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=image.dtype, device=image.device)
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, k.expand(c, 1, 3, 3), groups=c)


def laplacian_blur_map(sharp: Tensor, blurry: Tensor, tile: int = 14) -> Tensor:
    """Tile-wise Laplacian blur map ``B_Lap(i, j) = mean_{p ∈ P_ij} |Δ I_gt(p) − Δ I_blur(p)|``, clipped to [0, 1].

    ``I`` is the luminance of each image, ``Δ`` the replicate-padded 4-neighbour Laplacian,
    ``P_ij`` the non-overlapping ``tile × tile`` tiles aligned to the top-left corner (a partial
    last row/column of tiles is dropped, our choice). No per-image normalisation.

    Args:
        sharp, blurry: ``(B, C, H, W)`` (C = 1 or 3) in [0, 1], or ``(C, H, W)``.
        tile: tile side (14: one score per ViT/14 token).

    Returns:
        ``(B, 1, H // tile, W // tile)`` (or ``(1, H // tile, W // tile)`` for 3-D inputs).
    """
    if sharp.shape != blurry.shape:
        raise ValueError(f"laplacian_blur_map: sharp {tuple(sharp.shape)} and blurry {tuple(blurry.shape)} differ in shape")
    squeeze = sharp.dim() == 3
    if squeeze:
        sharp, blurry = sharp[None], blurry[None]
    if tile < 1 or sharp.shape[-1] < tile or sharp.shape[-2] < tile:
        raise ValueError(f"laplacian_blur_map: tile {tile} does not fit the {tuple(sharp.shape[-2:])} image")
    diff = (laplacian(luminance(sharp)) - laplacian(luminance(blurry))).abs()
    out = F.avg_pool2d(diff, kernel_size=tile, stride=tile).clamp(0.0, 1.0)
    return out[0] if squeeze else out

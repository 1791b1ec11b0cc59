"""Orthonormal single-level Haar DWT/IDWT of feature maps, computed with ptwt.

Band convention (the layer's contract, whatever model uses it): for each 2×2 block
``[[a, b], [c, d]]``::

    LL = (a + b + c + d) / 2      LH = (a + b − c − d) / 2
    HL = (a − b + c − d) / 2      HH = (a − b − c + d) / 2

i.e. the filters (1/2)[[1,1],[1,1]], (1/2)[[1,1],[−1,−1]], (1/2)[[1,−1],[1,−1]],
(1/2)[[1,−1],[−1,1]]. The transform is orthonormal, so IDWT∘DWT is the identity and the
IDWT is also the adjoint of the DWT.
"""

from __future__ import annotations

import ptwt
import torch
from einops import rearrange
from torch import Tensor, nn

__all__ = ["HaarDWT", "HaarIDWT", "haar_dwt2", "haar_idwt2"]


def _check(x: Tensor, who: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{who} needs a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"{who} needs an even height and width, got {tuple(x.shape[-2:])}; pad the map first")


def _wide(x: Tensor) -> Tensor:
    """ptwt has no half-precision kernels: float16/bfloat16 inputs are transformed in float32
    (and cast back), as :class:`restorekit.layers.FourierUnit` does under autocast."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def haar_dwt2(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(LL, LH, HL, HH)``, each ``(B, C, H/2, W/2)``, of ``x`` ``(B, C, H, W)`` (H, W even).

    ptwt's ``wavedec2`` returns the level-1 details as (horizontal, vertical, diagonal), which
    are exactly LH, HL, HH of the module docstring (checked against the explicit filters in
    the tests).
    """
    _check(x, "haar_dwt2")
    b, dtype = x.shape[0], x.dtype
    flat = rearrange(_wide(x), "b c h w -> (b c) h w")
    ll, (dh, dv, dd) = ptwt.wavedec2(flat, "haar", level=1, mode="zero")
    bands = [ll, dh, dv, dd]  # ptwt: dh = (a+b−c−d)/2, dv = (a−b+c−d)/2, dd = (a−b−c+d)/2
    return tuple(rearrange(t, "(b c) h w -> b c h w", b=b).to(dtype) for t in bands)  # type: ignore[return-value]


def haar_idwt2(ll: Tensor, lh: Tensor, hl: Tensor, hh: Tensor) -> Tensor:
    """Inverse of :func:`haar_dwt2`: four ``(B, C, h, w)`` bands → ``(B, C, 2h, 2w)``."""
    b, dtype = ll.shape[0], ll.dtype
    flat = [rearrange(_wide(t), "b c h w -> (b c) h w") for t in (ll, lh, hl, hh)]
    out = ptwt.waverec2([flat[0], (flat[1], flat[2], flat[3])], "haar")
    return rearrange(out, "(b c) h w -> b c h w", b=b).to(dtype)


class HaarDWT(nn.Module):
    """Module form of :func:`haar_dwt2`; returns the bands concatenated ``(B, 4C, H/2, W/2)``
    in the order LL, LH, HL, HH (``C`` channels each)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(haar_dwt2(x), dim=1)


class HaarIDWT(nn.Module):
    """Module form of :func:`haar_idwt2` on concatenated bands ``(B, 4C, h, w) → (B, C, 2h, 2w)``."""

    def forward(self, z: Tensor) -> Tensor:
        if z.shape[1] % 4:
            raise ValueError(f"HaarIDWT needs 4·C channels (LL, LH, HL, HH), got {z.shape[1]}")
        return haar_idwt2(*z.chunk(4, dim=1))

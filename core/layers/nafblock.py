"""``NAFBlock``: the nonlinear-activation-free block of NAFNet (Chen et al., ECCV 2022)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .channel_attention import SimplifiedChannelAttention
from .gate import SimpleGate
from .norm import LayerNorm2d

__all__ = ["NAFBlock"]


class NAFBlock(nn.Module):
    """NAFNet's block (official ``NAFNet_arch.py``)::

        x = conv3(SCA(SG(conv2(conv1(LN(inp))))));   y = inp + β ⊙ x
        out = y + γ ⊙ conv5(SG(conv4(LN(y))))

    ``conv1`` 1×1 c→2c, ``conv2`` depthwise 3×3 on 2c, ``conv3`` 1×1 c→c, ``conv4`` 1×1 c→2c,
    ``conv5`` 1×1 c→c (all with bias); LayerNorm eps 1e-6; ``β``, ``γ`` ``(1, c, 1, 1)`` start at
    0, so a new block is the identity. State-dict keys equal the official ones (``conv1`` …
    ``conv5``, ``sca.1``, ``norm1``, ``norm2``, ``beta``, ``gamma``); NAFBlock(64) has 30,784
    parameters.

    Shapes: ``(B, c, H, W) → (B, c, H, W)``.

    Args:
        channels: ``c``.
        dw_expand: expansion of the spatial path (2).
        ffn_expand: expansion of the feed-forward path (2).
        drop_out_rate: dropout after each path (0 in NAFNet's released models).
    """

    def __init__(self, channels: int, dw_expand: int = 2, ffn_expand: int = 2, drop_out_rate: float = 0.0) -> None:
        super().__init__()
        c = int(channels)
        dw = c * dw_expand
        ffn = c * ffn_expand
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.sca = SimplifiedChannelAttention(dw // 2)
        self.sg = SimpleGate()
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def spatial(self, x: Tensor) -> Tensor:
        """The spatial path on an already normalised input: conv1, dw conv2, SG, SCA, conv3."""
        return self.conv3(self.sca(self.sg(self.conv2(self.conv1(x)))))

    def feed_forward(self, x: Tensor) -> Tensor:
        """The feed-forward path on an already normalised input: conv4, SG, conv5."""
        return self.conv5(self.sg(self.conv4(x)))

    def forward(self, inp: Tensor) -> Tensor:
        y = inp + self.dropout1(self.spatial(self.norm1(inp))) * self.beta
        return y + self.dropout2(self.feed_forward(self.norm2(y))) * self.gamma

"""The FFT branch of AdaRevD (``fft_bench_complex_conv``) and the ``FCNAFBlock`` that uses it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .nafblock import NAFBlock

__all__ = ["FCNAFBlock", "FourierUnit"]


class FourierUnit(nn.Module):
    """A per-frequency MLP on the 2-D spectrum (AdaRevD's FFT branch)::

        Z = rfft2(x)  (norm "backward");   [Re Z, Im Z] → 1×1 2c→4c → GELU → 1×1 4c→2c → [Re, Im]
        out = irfft2(Re + i·Im, s=(H, W))

    The transforms run in float32 (or float64) even under autocast. 16c² + 6c parameters.

    Shapes: ``(B, c, H, W) → (B, c, H, W)``.
    """

    def __init__(self, channels: int, expand: int = 2) -> None:
        super().__init__()
        c = int(channels)
        self.conv1 = nn.Conv2d(2 * c, 2 * c * expand, 1)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(2 * c * expand, 2 * c, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        dtype = x.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float() if dtype in (torch.float16, torch.bfloat16) else x
            z = torch.fft.rfft2(xf, norm="backward")
            zz = torch.cat([z.real, z.imag], dim=1)
            zz = self.conv2(self.act(self.conv1(zz.to(self.conv1.weight.dtype)))).to(zz.dtype)
            re, im = zz.chunk(2, dim=1)
            out = torch.fft.irfft2(torch.complex(re, im), s=(h, w), norm="backward")
        return out.to(dtype)


class FCNAFBlock(NAFBlock):
    """AdaRevD's ``FCNAFBlock``: a :class:`NAFBlock` with a :class:`FourierUnit` added in each
    residual half::

        x̂ = LN(inp);   y = inp + β ⊙ (spatial(x̂) + fft1(x̂))
        ŷ = LN(y);     out = y + γ ⊙ (fft2(ŷ) + feed_forward(ŷ))

    FCNAFBlock(c) = NAFBlock(c) + 2·(16c² + 6c) parameters (162,624 at c = 64).

    Shapes: ``(B, c, H, W) → (B, c, H, W)``.
    """

    def __init__(self, channels: int, dw_expand: int = 2, ffn_expand: int = 2, drop_out_rate: float = 0.0) -> None:
        super().__init__(channels, dw_expand, ffn_expand, drop_out_rate)
        self.fft1 = FourierUnit(channels)
        self.fft2 = FourierUnit(channels)

    def forward(self, inp: Tensor) -> Tensor:
        x = self.norm1(inp)
        y = inp + self.dropout1(self.spatial(x) + self.fft1(x)) * self.beta
        z = self.norm2(y)
        return y + self.dropout2(self.fft2(z) + self.feed_forward(z)) * self.gamma

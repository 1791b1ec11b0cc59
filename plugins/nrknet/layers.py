"""Building blocks of the NRKNet Γ estimator (spec nrknet.md §2).

The module and attribute names (``main``, ``layers``, ``conv``, ``conv_atten``) follow the
official implementation (csZcWu/NRKNet ``layers.py``) so that an official ``state_dict``
loads 1:1 into :class:`restorekit.plugins.nrknet.coefficients.RKRCoefficientEstimator`
(see :mod:`restorekit.plugins.nrknet.convert`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BasicConv", "ResBlock", "ResStage", "ConvLSTMCell", "AttentionPredictionUnit"]


class BasicConv(nn.Module):
    """Conv2d (reflect padding ``k // 2``, no bias) [+ BatchNorm] [+ ReLU].

    With ``transpose=True``: ConvTranspose2d(k, stride, padding ``k // 2 − 1``, no bias)
    [+ ReLU] — the ×2 upsampling of the U-Net decoder (k = 4, s = 2, p = 1).

    Shapes: ``(B, in_channels, H, W) → (B, out_channels, H / stride, W / stride)`` (conv,
    ``ceil``) or ``(B, out_channels, H·stride, W·stride)`` (transposed).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        relu: bool = True,
        norm: bool = False,
        transpose: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if transpose:
            layers.append(
                nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2 - 1, bias=False)
            )
        else:
            layers.append(
                nn.Conv2d(
                    in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False, padding_mode="reflect"
                )
            )
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if relu:
            layers.append(nn.ReLU(inplace=False))
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x)


class ResBlock(nn.Module):
    """``x + Conv3×3(ReLU(Conv3×3(x)))`` (no activation after the add); ``(B,C,H,W) → same``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            BasicConv(channels, channels, 3, relu=True),
            BasicConv(channels, channels, 3, relu=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x) + x


class ResStage(nn.Module):
    """``num_res`` ResBlocks in sequence (the official ``EBlock``/``DBlock``)."""

    def __init__(self, channels: int, num_res: int = 1) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[ResBlock(channels) for _ in range(num_res)])

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell (official ``CLSTM_cell``).

    One Conv2d(in + hidden → 4·hidden, k×k, zero padding (k−1)/2, bias) on ``[y ‖ h]``,
    split into gates i, f, o, g; ``c' = σ(f)·c + σ(i)·tanh(g)``, ``h' = σ(o)·tanh(c')``.

    Shapes: ``y`` (B, in, h, w), ``h``/``c`` (B, hidden, h, w) → ``h'``, ``c'`` (B, hidden, h, w).
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, 1, (kernel_size - 1) // 2)

    def forward(self, y: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        gates = self.conv(torch.cat((y, h), dim=1))
        ai, af, ao, ag = torch.split(gates, self.hidden, dim=1)
        c_next = torch.sigmoid(af) * c + torch.sigmoid(ai) * torch.tanh(ag)
        h_next = torch.sigmoid(ao) * torch.tanh(c_next)
        return h_next, c_next

    def init_state(self, batch: int, height: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """Zero ``(h, c)`` of shape (B, hidden, height, width) on ``like``'s device/dtype."""
        z = like.new_zeros(batch, self.hidden, height, width)
        return z, z.clone()


class AttentionPredictionUnit(nn.Module):
    """The APU Γ head (official ``SqueezeAttentionBlock``), spec §2.

    For features ``z`` (B, C, s, s'):

    1. ``x_res = ReLU(BN(Conv3×3(z)))`` (C → G, reflect pad, no bias);
    2. ``y = AvgPool2d(2, 2)(z)``;
    3. ``h', c' = ConvLSTM(y, (h, c))`` (hidden G, kernel 5);
    4. ``Γ = up2_nearest(h') ⊙ (1 + x_res)`` — signed, unnormalised (no softmax/sigmoid).

    Returns ``(Γ (B, G, s, s'), h', c')`` with ``h'``/``c'`` at (s/2, s'/2).
    """

    def __init__(self, in_channels: int, num_coefficients: int, lstm_kernel: int = 5) -> None:
        super().__init__()
        self.conv = BasicConv(in_channels, num_coefficients, 3, relu=True, norm=True)
        self.conv_atten = ConvLSTMCell(in_channels, num_coefficients, lstm_kernel)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, z: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        x_res = self.conv(z)
        h, c = self.conv_atten(self.pool(z), state)
        up = torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
        return up * x_res + up, h, c

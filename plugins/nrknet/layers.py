"""Building blocks of the NRKNet Γ estimator (spec nrknet.md §2).

The module and attribute names (``main``, ``layers``, ``conv``, ``conv_atten``) follow the
official implementation (csZcWu/NRKNet ``layers.py``) so that an official ``state_dict``
loads 1:1 into :class:`restorekit.plugins.nrknet.coefficients.RKRCoefficientEstimator`
(see :mod:`restorekit.plugins.nrknet.convert`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = ["BasicConv", "ResBlock", "ResStage", "ConvLSTMCell", "AttentionPredictionUnit"]


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


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

    # Gate biases of the identity initialisation (our choice, see :meth:`init_identity_`):
    # input and output gates at σ(0) = ½ and g at tanh(1) keep the Γ_0 path far from
    # saturation; the forget gate at σ(−6) ≈ 0.0025 makes Γ_0 almost the same at every scale.
    IDENTITY_GATE_BIAS: ClassVar[dict[str, float]] = {"i": 0.0, "f": -6.0, "o": 0.0, "g": 1.0}

    @staticmethod
    def identity_gamma0(scale_index: int, bias: dict[str, float] | None = None) -> float:
        """``h'_0`` of the identity initialisation at the ``scale_index``-th scale processed
        (0 = coarsest), i.e. before the ``(1 + x_res)`` factor: with constant gates,
        ``c_0 = 0`` and ``c_{s+1} = σ(b_f)·c_s + σ(b_i)·tanh(b_g)``, ``h' = σ(b_o)·tanh(c)``."""
        b = AttentionPredictionUnit.IDENTITY_GATE_BIAS if bias is None else bias
        c = 0.0
        for _ in range(scale_index + 1):
            c = _sigmoid(b["f"]) * c + _sigmoid(b["i"]) * math.tanh(b["g"])
        return _sigmoid(b["o"]) * math.tanh(c)

    @torch.no_grad()
    def init_identity_(self) -> None:
        """Identity initialisation (**our choice**, optional; the official code uses PyTorch's
        default init): Γ_0 ≈ 1 and Γ_{j≥1} = 0 at every pixel, so that with a plain-sum
        operator ``D ≈ I`` and the Neumann decoder starts from ``Z_0 ≈ Y``.

        * ConvLSTM rows of the four gates of channel 0 are zeroed and their biases set to
          :attr:`IDENTITY_GATE_BIAS`, so ``h'_0`` is a constant per scale
          (:meth:`identity_gamma0`; coarsest scale exact, finer ones within ≈ 0.3 %);
        * the ``g``-gate rows and biases of channels j ≥ 1 are zeroed, so ``c_j = h'_j = 0``
          and Γ_j = 0 exactly (their gradients are non-zero: ∂Γ_j/∂g_j = σ(i_j)σ(o_j)(1+x_res_j));
        * the BatchNorm of channel 0 gets weight 0 and bias ``1/h'_0 − 1`` (coarsest scale),
          so ``x_res_0`` is that constant and ``Γ_0 = h'_0 (1 + x_res_0) = 1``.

        Every other weight keeps its default initialisation; parameter shapes are unchanged.
        """
        g = self.conv_atten.hidden
        conv = self.conv_atten.conv
        for k, name in enumerate("ifog"):  # gate order of ConvLSTMCell.forward
            conv.weight[k * g].zero_()
            conv.bias[k * g] = self.IDENTITY_GATE_BIAS[name]
        conv.weight[3 * g + 1 : 4 * g].zero_()
        conv.bias[3 * g + 1 : 4 * g].zero_()
        bn = self.conv.main[1]
        bn.weight[0] = 0.0
        bn.bias[0] = 1.0 / self.identity_gamma0(0) - 1.0

    def forward(self, z: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        x_res = self.conv(z)
        h, c = self.conv_atten(self.pool(z), state)
        up = torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
        return up * x_res + up, h, c

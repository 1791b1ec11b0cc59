"""Filter- and weight-prediction networks of SVMAP/SIMAP (supplement Table 5–7); the
per-pixel filter banks they drive are :mod:`.filter_bank`.

Table 5 network: 5 × [Conv3×3, 64 features, stride 1, padding 1, ReLU] → Conv3×3 → n_out,
bias on. Its parameter count with ``c_in`` inputs and ``K`` outputs is

    P(c_in, K) = (9·64·c_in + 64) + 4·(9·64·64 + 64) + (9·64·K + K) = 576·c_in + 147,776 + 577·K

(specs/svmap.md §1.4; :func:`table5_parameters`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .filter_bank import FilterBank, delta_taps, zero_mean_taps  # noqa: F401  (re-exported)


__all__ = ["FilterBank", "OUTPUT_CHUNK", "PredictionNet", "delta_taps", "table5_parameters", "zero_mean_taps"]

OUTPUT_CHUNK = 32
"""Output channels per convolution call of a prediction net's last layer on the CPU."""


def table5_parameters(c_in: int, n_out: int, width: int = 64, layers: int = 5) -> int:
    """Closed-form parameter count of :class:`PredictionNet` (``P(c_in, K)`` of the spec)."""
    first = 9 * width * c_in + width
    hidden = (layers - 1) * (9 * width * width + width)
    last = 9 * width * n_out + n_out
    return first + hidden + last


class PredictionNet(nn.Sequential):
    """Supplement Table 5 (and 6/7 with an output activation).

    ``(B, c_in, H, W) → (B, n_out, H, W)``: ``layers`` × [Conv3×3(width), ReLU], then
    Conv3×3(n_out), followed by ``out_activation`` (none for the filter nets, ReLU for the
    SIMAP regulariser-weight net of Table 6, sigmoid for the data-weight net of Table 7).
    """

    def __init__(
        self,
        c_in: int,
        n_out: int,
        width: int = 64,
        layers: int = 5,
        out_activation: Literal["none", "relu", "sigmoid"] = "none",
    ) -> None:
        mods: list[nn.Module] = []
        c = c_in
        for _ in range(layers):
            mods += [nn.Conv2d(c, width, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
            c = width
        mods.append(nn.Conv2d(c, n_out, 3, padding=1, bias=True))
        if out_activation == "relu":
            mods.append(nn.ReLU())
        elif out_activation == "sigmoid":
            mods.append(nn.Sigmoid())
        super().__init__(*mods)
        self.c_in, self.n_out = c_in, n_out

    def forward(self, x: Tensor) -> Tensor:
        """``(B, c_in, H, W) → (B, n_out, H, W)``; for inference on the CPU a channels-last
        tensor, the concatenation of :meth:`forward_chunks`."""
        chunks = self.forward_chunks(x)
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)

    def forward_chunks(self, x: Tensor) -> list[Tensor]:
        """The output as channel chunks of at most :data:`OUTPUT_CHUNK` channels, in order.

        For inference on the CPU (no gradients) every convolution runs channels-last
        (oneDNN's NHWC kernels run these 16–64-feature layers at twice their NCHW
        throughput) and the wide output convolution (up to 6,050 taps per pixel) is split by
        output channels: oneDNN runs 16→32 at about 110 GMAC/s against 45 GMAC/s for
        16→125 on the same input (2 threads; docs/svmap.md). Otherwise (training, CUDA) the
        layers run as they are, in one chunk: the training loops read the taps as NCHW planes.
        """
        convs = [m for m in self if isinstance(m, nn.Conv2d)]
        if (x.device.type != "cpu" or torch.is_grad_enabled() or self._forward_hooks or self._forward_pre_hooks
                or any(m.padding_mode != "zeros" or m._forward_hooks or m._forward_pre_hooks for m in convs)):
            return [super().forward(x)]
        cl = torch.channels_last
        x = x.contiguous(memory_format=cl)  # the weights' memory format selects the kernel
        last = convs[-1]
        tail: list[nn.Module] = []
        for m in self:
            if tail or m is last:
                tail.append(m)
            elif isinstance(m, nn.Conv2d):
                x = F.conv2d(x, m.weight.contiguous(memory_format=cl), m.bias, m.stride, m.padding, m.dilation, m.groups)
            else:
                x = m(x)
        w, b = last.weight, last.bias
        chunks = []
        for lo in range(0, w.shape[0], OUTPUT_CHUNK):
            hi = min(w.shape[0], lo + OUTPUT_CHUNK)
            y = F.conv2d(x, w[lo:hi].contiguous(memory_format=cl), None if b is None else b[lo:hi], last.stride,
                         last.padding, last.dilation)
            for act in tail[1:]:
                y = act(y)
            chunks.append(y)
        return chunks

    @property
    def receptive_radius(self) -> int:
        """Rows (and columns) an output sees on each side: ``dilation·(k − 1)/2`` per convolution."""
        return sum(m.dilation[0] * (m.kernel_size[0] - 1) // 2 for m in self if isinstance(m, nn.Conv2d))

    @property
    def output_conv(self) -> nn.Conv2d:
        """The last convolution (before the output activation, if any)."""
        return [m for m in self if isinstance(m, nn.Conv2d)][-1]

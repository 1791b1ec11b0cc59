"""Filter- and weight-prediction networks of SVMAP/SIMAP (supplement Table 5–7) and the
per-pixel filter banks they drive.

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

from restorekit.kernels import pixel_filter_adjoint, pixel_filter_apply

__all__ = ["FilterBank", "PredictionNet", "table5_parameters"]


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

    @property
    def output_conv(self) -> nn.Conv2d:
        """The last convolution (before the output activation, if any)."""
        return [m for m in self if isinstance(m, nn.Conv2d)][-1]


class FilterBank:
    """``n`` per-pixel filters of size ``s × s`` applied to a one-channel image.

    Args:
        filters: ``(B, n·s², H, W)`` (per pixel) or ``(B, n·s², 1, 1)`` (spatially uniform,
            broadcast over the image), as predicted by a :class:`PredictionNet`.
        n: number of filters; ``s`` is inferred (odd).

    ``bank(u)`` maps ``u`` ``(B, 1, H, W)`` to the responses ``(B, n, H, W)``,
    ``(F_i u)_p = Σ_q f_{i,p}(q) u(p + q − c)`` (gather form, zero padding, spec §1.2),
    and ``bank.adjoint(r)`` maps ``(B, n, H, W)`` back to ``Σ_i F_iᵀ r_i`` ``(B, 1, H, W)``.

    These are the model's learned filters (not the blur). On CUDA they run through
    :func:`restorekit.kernels.pixel_filter_apply` / ``pixel_filter_adjoint`` (Triton). On
    the CPU, where those kernels unfold ``n`` copies of the one input channel
    (``n·s²·H·W`` floats materialised per call), the bank accumulates tap by tap over
    shifted views of the zero-padded input (``s²`` fused multiply-adds, no im2col, no large
    temporaries); the adjoint scatters the same way. Same arithmetic, tested equal to the
    kernels.
    """

    def __init__(self, filters: Tensor, n: int, size: tuple[int, int]) -> None:
        B, nss, fh, fw = filters.shape
        ss = nss // n
        s = int(round(ss**0.5))
        if n * s * s != nss or s % 2 == 0:
            raise ValueError(f"{nss} filter channels are not n·s² with n = {n} and odd s")
        taps = filters.reshape(B, n, ss, fh, fw)
        if (fh, fw) != tuple(size):
            taps = taps.expand(B, n, ss, int(size[0]), int(size[1]))
        self.taps, self.n, self.s = taps, n, s

    def _fast(self, t: Tensor) -> bool:
        return t.device.type == "cpu"

    def __call__(self, u: Tensor) -> Tensor:
        if not self._fast(u):
            return pixel_filter_apply(u.expand(-1, self.n, -1, -1), self.taps)
        B, _, H, W = u.shape
        s, c = self.s, self.s // 2
        up = F.pad(u, (c, c, c, c))
        taps = self.taps.to(u.dtype)
        out = torch.zeros(B, self.n, H, W, dtype=u.dtype, device=u.device)
        for a in range(s):
            for b in range(s):
                out.addcmul_(taps[:, :, a * s + b], up[..., a : a + H, b : b + W])
        return out

    def adjoint(self, r: Tensor) -> Tensor:
        if not self._fast(r):
            return pixel_filter_adjoint(r, self.taps).sum(dim=1, keepdim=True)
        B, n, H, W = r.shape
        s, c = self.s, self.s // 2
        taps = self.taps.to(r.dtype)
        canvas = torch.zeros(B, 1, H + 2 * c, W + 2 * c, dtype=r.dtype, device=r.device)
        for a in range(s):
            for b in range(s):
                view = canvas[..., a : a + H, b : b + W]
                for i in range(n):
                    view.addcmul_(taps[:, i : i + 1, a * s + b], r[:, i : i + 1])
        return canvas[..., c : c + H, c : c + W]

    def normal(self, u: Tensor, weights: Tensor | None = None) -> Tensor:
        """``Σ_i F_iᵀ (w_i ⊙ F_i u)`` (weights ``(B, n, H, W)`` or none)."""
        r = self(u)
        return self.adjoint(r if weights is None else weights * r)


def zero_mean_taps(filters: Tensor, n: int) -> Tensor:
    """Subtract each filter's tap mean (per pixel): ``(B, n·s², H, W)`` → same shape."""
    B, nss, H, W = filters.shape
    f = filters.reshape(B, n, nss // n, H, W)
    return (f - f.mean(dim=2, keepdim=True)).reshape(B, nss, H, W)


def delta_taps(n: int, s: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``n`` centred Dirac filters as a ``(1, n·s², 1, 1)`` tensor (added to the data-filter
    prediction so that an untrained model starts from the plain L2 data term)."""
    d = torch.zeros(1, n, s * s, 1, 1, dtype=dtype, device=device)
    d[:, :, (s * s) // 2] = 1.0
    return d.reshape(1, n * s * s, 1, 1)

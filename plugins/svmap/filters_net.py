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


def _shifted(up: Tensor, a: int, b: int, H: int, W: int) -> Tensor:
    """The ``H × W`` window of the padded ``up`` at offset ``(a, b)``: ``u(p + (a, b) − c)``."""
    return up[..., a : a + H, b : b + W]


def _apply_loop(u: Tensor, taps: Tensor, s: int) -> Tensor:
    """``out[:, i] = Σ_q taps[:, i, q] ⊙ u(· + q − c)``: ``u`` ``(B, 1, H, W)``, ``taps``
    ``(B, n, s², H, W)`` → ``(B, n, H, W)`` by ``s²`` fused multiply-adds over shifted views
    of the zero-padded ``u`` (no im2col)."""
    B, n, _, H, W = taps.shape
    c = s // 2
    up = F.pad(u, (c, c, c, c))
    out = torch.zeros(B, n, H, W, dtype=u.dtype, device=u.device)
    for a in range(s):
        for b in range(s):
            out.addcmul_(taps[:, :, a * s + b], _shifted(up, a, b, H, W))
    return out


def _adjoint_loop(r: Tensor, taps: Tensor, s: int) -> Tensor:
    """``Σ_i F_iᵀ r_i``: ``r`` ``(B, n, H, W)`` → ``(B, 1, H, W)``, scattering every tap's
    product onto the zero-padded canvas and cropping (the exact adjoint of :func:`_apply_loop`)."""
    B, n, _, H, W = taps.shape
    c = s // 2
    canvas = torch.zeros(B, 1, H + 2 * c, W + 2 * c, dtype=r.dtype, device=r.device)
    for a in range(s):
        for b in range(s):
            view = _shifted(canvas, a, b, H, W)
            for i in range(n):
                view.addcmul_(taps[:, i : i + 1, a * s + b], r[:, i : i + 1])
    return canvas[..., c : c + H, c : c + W]


def _taps_grad(r: Tensor, u: Tensor, s: int) -> Tensor:
    """``∂⟨r, F u⟩ / ∂taps``: ``out[:, i, q] = r_i ⊙ u(· + q − c)`` ``(B, n, s², H, W)``."""
    B, n, H, W = r.shape
    c = s // 2
    up = F.pad(u, (c, c, c, c))
    out = torch.empty(B, n, s * s, H, W, dtype=r.dtype, device=r.device)
    for a in range(s):
        for b in range(s):
            torch.mul(r, _shifted(up, a, b, H, W), out=out[:, :, a * s + b])
    return out


class _PixelFilter(torch.autograd.Function):
    """``F u`` with hand-written backward: ``∂u = Fᵀ g`` (:func:`_adjoint_loop`) and
    ``∂taps = g ⊗ shifted u`` (:func:`_taps_grad`), each ``s²`` fused passes. (Autograd
    through the tap loop itself materialises a full-size zero gradient of the taps per tap
    — ``s²`` times the taps' size per call — which made SVMAP's backward 50× its forward.)"""

    @staticmethod
    def forward(ctx, u: Tensor, taps: Tensor, s: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(u, taps)
        ctx.s = s
        return _apply_loop(u, taps, s)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor):  # type: ignore[override]
        u, taps = ctx.saved_tensors
        g = g.contiguous()
        gu = _adjoint_loop(g, taps, ctx.s) if ctx.needs_input_grad[0] else None
        gt = _taps_grad(g, u, ctx.s) if ctx.needs_input_grad[1] else None
        return gu, gt, None


class _PixelFilterAdjoint(torch.autograd.Function):
    """``Σ_i F_iᵀ r_i`` with hand-written backward: ``∂r = F g`` and ``∂taps = r ⊗ shifted g``."""

    @staticmethod
    def forward(ctx, r: Tensor, taps: Tensor, s: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(r, taps)
        ctx.s = s
        return _adjoint_loop(r, taps, s)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor):  # type: ignore[override]
        r, taps = ctx.saved_tensors
        g = g.contiguous()
        gr = _apply_loop(g, taps, ctx.s) if ctx.needs_input_grad[0] else None
        gt = _taps_grad(r, g, ctx.s) if ctx.needs_input_grad[1] else None
        return gr, gt, None


class FilterBank:
    """``n`` per-pixel filters of size ``s × s`` applied to a one-channel image.

    Args:
        filters: ``(B, n·s², H, W)`` (per pixel) or ``(B, n·s², 1, 1)`` (spatially uniform,
            broadcast over the image), as predicted by a :class:`PredictionNet`.
        n: number of filters; ``s`` is inferred (odd).

    ``bank(u)`` maps ``u`` ``(B, 1, H, W)`` to the responses ``(B, n, H, W)``,
    ``(F_i u)_p = Σ_q f_{i,p}(q) u(p + q − c)`` (gather form, zero padding, spec §1.2),
    and ``bank.adjoint(r)`` maps ``(B, n, H, W)`` back to ``Σ_i F_iᵀ r_i`` ``(B, 1, H, W)``.

    These are the model's learned filters (not the blur). Implementation:

    * **uniform** filters (SIMAP): one grouped ``conv2d`` (correlation, padding ``s // 2``)
      and its ``conv_transpose2d``, the images as groups;
    * **per-pixel, CUDA**: :func:`restorekit.kernels.pixel_filter_apply` /
      ``pixel_filter_adjoint`` (Triton);
    * **per-pixel, CPU**: ``s²`` fused multiply-adds over shifted views of the zero-padded
      input (no im2col: those kernels unfold ``n`` copies of the input, ``n·s²·H·W`` floats
      per call), the adjoint scattering the same way, with a hand-written backward of the
      same form (:class:`_PixelFilter`); same arithmetic, tested equal to the kernels and by
      gradcheck.
    """

    def __init__(self, filters: Tensor, n: int, size: tuple[int, int]) -> None:
        B, nss, fh, fw = filters.shape
        ss = nss // n
        s = int(round(ss**0.5))
        if n * s * s != nss or s % 2 == 0:
            raise ValueError(f"{nss} filter channels are not n·s² with n = {n} and odd s")
        self.n, self.s, self.size = n, s, (int(size[0]), int(size[1]))
        self.uniform = (fh, fw) == (1, 1) and self.size != (1, 1)
        taps = filters.reshape(B, n, ss, fh, fw)
        if (fh, fw) != self.size and not self.uniform:
            taps = taps.expand(B, n, ss, *self.size)
        self.taps = taps

    def _full_taps(self, batch: int, dtype: torch.dtype) -> Tensor:
        t = self.taps.to(dtype)
        return t.expand(batch, self.n, self.s * self.s, *self.size)

    def _conv_weight(self, batch: int, dtype: torch.dtype) -> Tensor:
        t = self.taps.to(dtype)
        return t.expand(batch, *t.shape[1:]).reshape(batch * self.n, 1, self.s, self.s)

    def __call__(self, u: Tensor) -> Tensor:
        B, _, H, W = u.shape
        if self.uniform:
            out = F.conv2d(u.reshape(1, B, H, W), self._conv_weight(B, u.dtype), padding=self.s // 2, groups=B)
            return out.reshape(B, self.n, H, W)
        taps = self._full_taps(B, u.dtype)
        if u.device.type != "cpu":
            return pixel_filter_apply(u.expand(-1, self.n, -1, -1), taps)
        return _PixelFilter.apply(u, taps, self.s)

    def adjoint(self, r: Tensor) -> Tensor:
        B, n, H, W = r.shape
        if self.uniform:
            out = F.conv_transpose2d(r.reshape(1, B * n, H, W), self._conv_weight(B, r.dtype), padding=self.s // 2, groups=B)
            return out.reshape(B, 1, H, W)
        taps = self._full_taps(B, r.dtype)
        if r.device.type != "cpu":
            return pixel_filter_adjoint(r, taps).sum(dim=1, keepdim=True)
        return _PixelFilterAdjoint.apply(r, taps, self.s)

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

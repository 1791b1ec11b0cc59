"""Per-pixel filter banks of SVMAP/SIMAP: ``F u``, ``Fᵀ r`` and the normal operator ``FᵀF``.

A bank holds ``n`` filters of size ``s × s`` per pixel (or one set for the whole image),
as predicted by a :class:`.filters_net.PredictionNet`; :class:`FilterBank` documents the
implementations (grouped convolutions, Triton on CUDA, shifted-view loops with a
hand-written backward on the CPU, and Numba kernels for inference on the CPU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import kernels
from restorekit.kernels import pixel_filter_adjoint, pixel_filter_apply

if TYPE_CHECKING:
    from .filters_net import PredictionNet

__all__ = ["FilterBank", "STRIP_ROWS", "delta_taps", "stencil_pays", "zero_mean_taps"]

STRIP_ROWS = 112
"""Rows per strip of :meth:`FilterBank.from_net` (measured: 96–140 rows are within a few
per cent of each other and about 25 % faster than the whole image, which page-faults its
100 MB activations into fresh memory)."""


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


def stencil_pays(n: int, s: int) -> bool:
    """Whether a bank's normal operator is applied as its symmetric stencil
    (:mod:`restorekit.kernels.numba_pixel_gram`) rather than through its taps.

    Our choice, from the costs per pixel: the stencil stores ``((2s − 1)² + 1) / 2``
    planes against the bank's ``n·s²`` taps, so each CG product reads fewer bytes when
    that count is smaller (``n ≥ 2`` for ``s ≤ 7``); building it costs ``n·(s⁴ + s²)/2``
    multiply-adds once per IRLS iteration, which stays below a few products' worth of
    reads only up to ``s = 7`` (SVMAP-small: ``s = 5``, 41 planes for 75 and 125 taps).
    """
    planes = ((2 * s - 1) ** 2 + 1) // 2
    return s <= 7 and planes < n * s * s


class FilterBank:
    """``n`` per-pixel filters of size ``s × s`` applied to a one-channel image.

    Args:
        filters: ``(B, n·s², H, W)`` (per pixel) or ``(B, n·s², 1, 1)`` (spatially uniform,
            broadcast over the image), as predicted by a :class:`PredictionNet`; or the
            taps ``(B, n, s², H, W)`` themselves.
        n: number of filters; ``s`` is inferred (odd).

    ``bank(u)`` maps ``u`` ``(B, 1, H, W)`` to the responses ``(B, n, H, W)``,
    ``(F_i u)_p = Σ_q f_{i,p}(q) u(p + q − c)`` (gather form, zero padding, spec §1.2),
    ``bank.adjoint(r)`` maps ``(B, n, H, W)`` back to ``Σ_i F_iᵀ r_i`` ``(B, 1, H, W)``,
    and ``bank.normal(u, w)`` is ``Σ_i F_iᵀ (w_i ⊙ F_i u)``.

    These are the model's learned filters (not the blur). Implementation:

    * **uniform** filters (SIMAP): one grouped ``conv2d`` (correlation, padding ``s // 2``)
      and its ``conv_transpose2d``, the images as groups;
    * **per-pixel, CUDA**: :func:`restorekit.kernels.pixel_filter_apply` /
      ``pixel_filter_adjoint`` (Triton);
    * **per-pixel, CPU**: ``s²`` fused multiply-adds over shifted views of the zero-padded
      input (no im2col: those kernels unfold ``n`` copies of the input, ``n·s²·H·W`` floats
      per call), the adjoint scattering the same way, with a hand-written backward of the
      same form (:class:`_PixelFilter`); same arithmetic, tested equal to the kernels and by
      gradcheck;
    * **per-pixel, CPU, no gradient** (inference), built by :meth:`from_net` or
      :meth:`from_prediction`: the unweighted :meth:`normal` is the symmetric ``(2s − 1)²``
      stencil of ``Σ FᵢᵀFᵢ`` (:func:`restorekit.kernels.numba_pixel_gram.pixel_filter_gram`,
      built once, then one gather per product) when :func:`stencil_pays`, else the fused Numba tap kernel
      :func:`restorekit.kernels.pixel_filter_normal` (the taps read once per product). The
      taps are then laid out lazily, on the first call that needs them.
      ``RESTOREKIT_KERNELS=reference`` (or a missing Numba) keeps the loops above.
    """

    def __init__(self, filters: Tensor, n: int, size: tuple[int, int]) -> None:
        if filters.dim() == 5:  # already (B, n, s², h, w) taps
            B, n_f, ss, fh, fw = filters.shape
            nss = n_f * ss
            if n_f != n:
                raise ValueError(f"taps of {n_f} filters given for a bank of n = {n}")
        else:
            B, nss, fh, fw = filters.shape
            ss = nss // n
        s = int(round(ss**0.5))
        if n * s * s != nss or s % 2 == 0:
            raise ValueError(f"{nss} filter channels are not n·s² with n = {n} and odd s")
        self.n, self.s, self.size = n, s, (int(size[0]), int(size[1]))
        self.uniform = (fh, fw) == (1, 1) and self.size != (1, 1)
        taps = filters if filters.dim() == 5 else filters.reshape(B, n, ss, fh, fw)
        if (fh, fw) != self.size and not self.uniform:
            taps = taps.expand(B, n, ss, *self.size)
        self._taps: Tensor | None = taps
        self._make_taps: Callable[[], Tensor] | None = None
        self.stencil: Tensor | None = None

    @classmethod
    def from_prediction(cls, prediction: Tensor | Sequence[Tensor], n: int, size: tuple[int, int], *,
                        zero_mean: bool = False, delta: bool = False) -> "FilterBank":
        """The bank of a filter net's output ``(B, n·s², h, w)`` (or its channel chunks,
        :meth:`PredictionNet.forward_chunks`): each filter made zero-mean per pixel
        (``zero_mean``, :func:`zero_mean_taps`), then a centred Dirac added (``delta``,
        :func:`delta_taps`). Per-pixel predictions on the CPU without gradients get the
        Numba layouts (see the class docstring), transformed in the same pass."""
        chunks = [prediction] if isinstance(prediction, Tensor) else list(prediction)
        B, _, fh, fw = chunks[0].shape
        nss = sum(int(c.shape[1]) for c in chunks)
        s = int(round((nss // max(n, 1)) ** 0.5))
        fast = ((fh, fw) == (int(size[0]), int(size[1])) and n * s * s == nss and s % 2 == 1
                and kernels.numba_enabled(*chunks))
        if fast:
            from restorekit.kernels.numba_pixel_filter import pixel_filter_rows

            def rows() -> Tensor:
                return pixel_filter_rows(chunks, n, zero_mean=zero_mean, delta=delta)

            if not stencil_pays(n, s):
                return cls(rows(), n, size)
            from restorekit.kernels.numba_pixel_gram import pixel_filter_gram

            return cls._with_stencil(pixel_filter_gram(chunks, n, zero_mean=zero_mean, delta=delta), n, s, size, rows)
        # NCHW: the tap loops below read whole tap planes (a channels-last view would make
        # every plane a stride-n·s² gather)
        f = (chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)).contiguous()
        if zero_mean:
            f = zero_mean_taps(f, n)
        if delta:
            f = f + delta_taps(n, s, f.dtype, f.device)
        return cls(f, n, size)

    @classmethod
    def from_net(cls, net: "PredictionNet", x: Tensor, n: int, *, zero_mean: bool = False,
                 delta: bool = False) -> "FilterBank":
        """The bank ``net`` predicts from ``x`` ``(B, c_in, H, W)``, as :meth:`from_prediction`.

        When the stencil form applies (CPU, no gradient, :func:`stencil_pays`), the net runs
        on horizontal strips of about :data:`STRIP_ROWS` rows, each with a halo of its
        receptive radius plus ``s // 2`` rows, and every strip's prediction goes straight into
        its rows of the stencil: the activations and taps of a strip stay in cache and the
        full-size taps (112 MB for SVMAP-small's regulariser bank on a 274² RGB domain) are
        never allocated. Rows away from a strip's edges are exactly those of the full
        image (zero padding affects ``net.receptive_radius`` rows from an edge).
        """
        B, _, H, W = x.shape
        nss = net.n_out
        s = int(round((nss // max(n, 1)) ** 0.5))
        if not (n * s * s == nss and s % 2 == 1 and stencil_pays(n, s) and not torch.is_grad_enabled()
                and kernels.numba_enabled(x)):
            return cls.from_prediction(net.forward_chunks(x), n, (H, W), zero_mean=zero_mean, delta=delta)
        from restorekit.kernels.numba_pixel_filter import pixel_filter_rows
        from restorekit.kernels.numba_pixel_gram import gram_stencil, pixel_filter_gram_rows

        K = gram_stencil(B, H, W, s, x.dtype)
        c, R = s // 2, net.receptive_radius
        strips = max(1, round(H / STRIP_ROWS))
        edges = [round(i * H / strips) for i in range(strips + 1)]
        for y0, y1 in zip(edges[:-1], edges[1:]):
            i0, i1 = max(0, y0 - c - R), min(H, y1 + c + R)
            pixel_filter_gram_rows(K, net.forward_chunks(x[..., i0:i1, :]), n, (y0, y1), i0,
                                   zero_mean=zero_mean, delta=delta)
        return cls._with_stencil(K, n, s, (H, W),
                                 lambda: pixel_filter_rows(net.forward_chunks(x), n, zero_mean=zero_mean, delta=delta))

    @classmethod
    def _with_stencil(cls, stencil: Tensor, n: int, s: int, size: tuple[int, int],
                      make_taps: Callable[[], Tensor]) -> "FilterBank":
        """A per-pixel bank given by its normal stencil; ``make_taps()`` lays out its taps
        ``(B, n, s², H, W)`` when a product other than the unweighted normal needs them."""
        bank = cls.__new__(cls)
        bank.n, bank.s, bank.size, bank.uniform = n, s, (int(size[0]), int(size[1])), False
        bank._taps, bank._make_taps, bank.stencil = None, make_taps, stencil
        return bank

    @property
    def taps(self) -> Tensor:
        """``(B|1, n, s², h, w)``: the filters' taps (laid out on first use for stencil banks)."""
        if self._taps is None:
            assert self._make_taps is not None
            self._taps, self._make_taps = self._make_taps(), None
        return self._taps

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
        if not self.uniform and u.device.type == "cpu":
            if (self.stencil is not None and weights is None and u.shape[0] == self.stencil.shape[0]
                    and u.dtype == self.stencil.dtype and kernels.numba_enabled(u)):
                from restorekit.kernels.numba_pixel_gram import pixel_filter_normal_gram

                return pixel_filter_normal_gram(u, self.stencil)
            taps = self._full_taps(u.shape[0], u.dtype)
            if kernels.resolve_backend("pixel_filter_normal", "auto", u, taps, weights) == "numba":
                return kernels.pixel_filter_normal(u, taps, weights, backend="numba")
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

"""``standard.spatially_variant_filter``: per-pixel filters (gather / output side).

Spec: operators_and_kernels.md §3. ``(F x)(p) = Σ_{q∈s×s} f_p(q) · x(p + q − c)``,
``c = s // 2``; ``convolution: true`` flips the taps (``x(p − q + c)``).
The per-pixel apply and its adjoint come from :mod:`restorekit.kernels`
(``pixel_filter_apply`` / ``pixel_filter_adjoint``, Triton on CUDA, PyTorch elsewhere),
which use zero padding. Other boundaries are composed with the padding of
:mod:`restorekit.functional`: ``A = crop ∘ F_pad ∘ P`` where ``P`` pads the image by ``c``
in the chosen mode and ``F_pad`` applies the filters zero-extended to the padded canvas;
hence ``Aᵀ = Pᵀ ∘ F_padᵀ ∘ cropᵀ`` is exact.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import InputError, Operator
from restorekit.errors import ConfigError
from restorekit.functional import pad, pad_adjoint, psf2otf

SVF_BOUNDARIES: tuple[str, ...] = ("zeros", "reflect", "symmetric", "replicate", "circular")


class SpatiallyVariantFilter(Operator):
    """Per-pixel ``s×s`` filters: ``A(x, filters=f)`` with ``x`` ``(B, C, H, W)`` and ``f``
    ``(B|1, Cf, s·s, H, W)``, ``Cf ∈ {1, C}``, ``s`` odd (tap index ``u·s + v`` is row ``u``,
    column ``v``). Output ``(B, C, H, W)``; the weights sit on the output side (each
    output pixel gathers with its own filter, so filters summing to 1 preserve constants).

    Cost O(N·s²) MAC per channel; the unfold path stores N·s² floats.

    :meth:`transfer_function` exists only in the degenerate case the FFT diagonalises:
    ``boundary: circular`` with the same taps at every pixel (a circular convolution);
    otherwise it is ``None`` and solvers use CG. ``channelwise`` is ``True`` (channels are
    filtered independently).

    Choices:
        - filter taps in gather (output-side) form, tap index u·s + v (operators spec §3)
        - zeros boundary by default: the only mode whose adjoint is a plain fold (operators spec §3)

    Args:
        boundary: ``zeros`` (exact fold adjoint), ``reflect`` (edge not repeated),
            ``symmetric`` (edge repeated), ``replicate`` or ``circular``.
        convolution: flip the taps (true convolution with each pixel's kernel).
    """

    provides = frozenset({"operator"})
    requires = frozenset({"filters"})
    weighting = "output"
    channelwise: ClassVar[bool] = True

    def __init__(
        self,
        boundary: Literal["zeros", "reflect", "symmetric", "replicate", "circular"] = "zeros",
        convolution: bool = False,
    ) -> None:
        super().__init__()
        if boundary not in SVF_BOUNDARIES:
            raise ConfigError(
                f"standard.spatially_variant_filter: unknown boundary '{boundary}'; use one of {', '.join(SVF_BOUNDARIES)}"
            )
        self.boundary = boundary
        self.convolution = bool(convolution)

    def _filters(self, params: dict[str, Any], x: Tensor) -> tuple[Tensor, int]:
        p = self._resolve(params)
        unknown = sorted(set(p) - {"filters"})
        if unknown:
            raise InputError(f"standard.spatially_variant_filter got unknown parameter(s) {unknown}; it takes filters=…")
        f = p.get("filters")
        if f is None:
            raise InputError(
                "standard.spatially_variant_filter needs per-pixel filters: call A(x, filters=f) with f "
                "(B, 1|C, s*s, H, W), or use a blur estimator that provides 'filters'"
            )
        if not isinstance(f, Tensor) or f.dim() != 5:
            shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise InputError(f"filters must have shape (B, 1|C, s*s, H, W), got {shape}")
        s = math.isqrt(int(f.shape[2]))
        if s * s != f.shape[2] or s % 2 == 0:
            raise InputError(f"filters have {f.shape[2]} taps per pixel; expected s*s with s odd (9, 25, 49, …)")
        if tuple(f.shape[-2:]) != tuple(x.shape[-2:]):
            raise InputError(
                f"filters are given for a {tuple(f.shape[-2:])} grid but the image is {tuple(x.shape[-2:])}; "
                f"give one filter per pixel"
            )
        return f.to(device=x.device, dtype=x.dtype), s

    def A(self, x: Tensor, **params: Any) -> Tensor:
        """``y(p) = Σ_q f_p(q) x(p + q − c)`` for ``x`` ``(B, C, H, W)``."""
        from restorekit.kernels import pixel_filter_apply

        f, s = self._filters(params, x)
        if self.boundary == "zeros":
            return pixel_filter_apply(x, f, convolution=self.convolution)
        c = s // 2
        H, W = x.shape[-2:]
        yp = pixel_filter_apply(pad(x, c, self.boundary), F.pad(f, (c, c, c, c)), convolution=self.convolution)
        return yp[..., c : c + H, c : c + W]

    def A_adjoint(self, y: Tensor, **params: Any) -> Tensor:
        """Exact adjoint (scatter / input side) for ``y`` ``(B, C, H, W)``."""
        from restorekit.kernels import pixel_filter_adjoint

        f, s = self._filters(params, y)
        if self.boundary == "zeros":
            return pixel_filter_adjoint(y, f, convolution=self.convolution)
        c = s // 2
        xp = pixel_filter_adjoint(F.pad(y, (c, c, c, c)), F.pad(f, (c, c, c, c)), convolution=self.convolution)
        return pad_adjoint(xp, c, self.boundary)

    def transfer_function(self, size: tuple[int, int], *, onesided: bool = True, **params: Any) -> Tensor | None:
        """``K̂`` when the filters are one circular convolution (circular boundary, the same
        taps at every pixel, filters of the image ``size``), else ``None``."""
        if self.boundary != "circular":
            return None
        f = self._resolve(params).get("filters")
        if not isinstance(f, Tensor) or f.dim() != 5 or tuple(f.shape[-2:]) != (int(size[0]), int(size[1])):
            return None
        s = math.isqrt(int(f.shape[2]))
        if s * s != f.shape[2] or s % 2 == 0:
            return None
        first = f[..., :1, :1]
        if not bool(torch.equal(f, first.expand_as(f))):
            return None
        taps = first[..., 0, 0].reshape(*f.shape[:2], s, s)  # correlation taps, centre (c, c)
        kernel = taps if self.convolution else taps.flip(-2, -1)  # as a true-convolution PSF
        if not kernel.is_floating_point():
            kernel = kernel.float()
        return psf2otf(kernel, (int(size[0]), int(size[1])), onesided=onesided)

    def extra_repr(self) -> str:
        return f"boundary={self.boundary}, convolution={self.convolution}"

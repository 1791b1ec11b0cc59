"""``standard.convolution``: uniform blur ``y = k ∗ x`` and product-convolution.

Spec: operators_and_kernels.md §1, §2, §4. The numerics live in
:mod:`restorekit.functional` (shared with the engine's synthetic data); this class adds
the :class:`~restorekit.Operator` interface, parameter handling and option checking.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from torch import Tensor

from restorekit import InputError, Operator
from restorekit.errors import ConfigError
from restorekit.functional import (
    BOUNDARIES,
    METHODS,
    conv2d,
    conv2d_adjoint,
    conv_out_shape,
    product_conv2d,
    product_conv2d_adjoint,
    psf2otf,
)


class Convolution(Operator):
    """Uniform convolution, or product-convolution when given ``filters`` and ``multipliers``.

    Call forms:

    * ``A(x, kernel=k)``: ``y = k ∗ x`` with ``x`` ``(B, C, H, W)`` and ``k`` ``(h, w)``,
      ``(B|1, h, w)`` or ``(B|1, C|1, h, w)``, a true convolution centred at
      ``(h//2, w//2)`` (or a correlation with ``correlation: true``);
    * ``A(x, filters=h, multipliers=w)``: product-convolution with ``h``
      ``(B|1, C|1, K, h, w)`` and ``w`` ``(B|1, C|1, K, H, W)``; ``weighting: output``
      gives ``y = Σ_k w_k ⊙ (h_k ∗ x)`` (rows sum to 1, Nagy–O'Leary),
      ``weighting: input`` gives ``y = Σ_k h_k ∗ (w_k ⊙ x)`` (columns sum to 1,
      deepinv ``SpaceVaryingBlur``).

    ``requires`` is ``{"kernel|filters", "kernel|multipliers"}``: a blur estimate with a
    ``kernel`` binds the uniform form, one with ``filters`` and ``multipliers`` extras the
    product-convolution form.

    ``A_adjoint`` is the exact adjoint of either form (adjointness rel < 1e-10 in float64).
    Output shape is ``(B, C, H, W)``, or ``(B, C, H − h + 1, W − w + 1)`` for ``valid``.

    :meth:`transfer_function` returns ``psf2otf(k)`` (``conj`` for ``correlation: true``)
    for the uniform form with ``boundary: circular``, the only case the FFT diagonalises
    (as DeepInverse's ``BlurFFT``); ``None`` otherwise, so solvers fall back to CG.
    ``channelwise`` is ``True``: every colour channel is blurred independently, so solvers
    may treat the channels as independent systems.

    Choices:
        - kernel centre at (h // 2, w // 2) for even sizes too (our choice, operators spec §1)
        - method auto: FFT for kernels of at least 5×5 taps on the CPU and 15×15 on CUDA, shifted multiply-adds for kernels of at most 3×3 taps (our choice, measured: benchmarks/convolution.py)
        - boundary valid is the free boundary of Levin et al. 2007 (unknown image on the enlarged domain (H+h−1)×(W+w−1); our reading of their mask)

    Args:
        boundary: ``circular``, ``valid``, ``zeros``, ``reflect`` (edge not repeated),
            ``symmetric`` (edge repeated) or ``replicate``.
        method: ``spatial`` (grouped conv2d), ``fft`` (``psf2otf``; pad-then-crop for
            non-circular boundaries) or ``auto`` (FFT for kernels of ≥ 5×5 taps on the CPU,
            ≥ 15×15 on CUDA; :data:`restorekit.functional.FFT_AUTO_MIN_TAPS_CPU`).
        correlation: compute a correlation ``y(p) = Σ_q k(q) x(p + q)`` instead.
        weighting: the side of the multipliers in the product-convolution form.
    """

    provides = frozenset({"operator"})
    channelwise: ClassVar[bool] = True
    # satisfied by a uniform ``kernel`` alone, or by ``filters`` and ``multipliers`` together
    # (product-convolution); ``parameters_from`` picks ``kernel`` when both are available
    requires = frozenset({"kernel|filters", "kernel|multipliers"})

    def __init__(
        self,
        boundary: Literal["circular", "valid", "zeros", "reflect", "symmetric", "replicate"] = "circular",
        method: Literal["spatial", "fft", "auto"] = "auto",
        correlation: bool = False,
        weighting: Literal["input", "output"] = "output",
    ) -> None:
        super().__init__()
        if boundary not in BOUNDARIES:
            raise ConfigError(f"standard.convolution: unknown boundary '{boundary}'; use one of {', '.join(BOUNDARIES)}")
        if method not in METHODS:
            raise ConfigError(f"standard.convolution: unknown method '{method}'; use one of {', '.join(METHODS)}")
        if weighting not in ("input", "output"):
            raise ConfigError(f"standard.convolution: weighting must be 'input' or 'output', got '{weighting}'")
        self.boundary = boundary
        self.method = method
        self.correlation = bool(correlation)
        self.weighting = weighting  # instance value: the side used by the product-convolution form
        self.amp_safe = method == "spatial"  # the FFT path (fft/auto) must run in float32/64

    # -- parameters -------------------------------------------------------------------
    def _params_of(self, params: dict[str, Any]) -> dict[str, Any]:
        p = self._resolve(params)
        unknown = sorted(set(p) - {"kernel", "filters", "multipliers"})
        if unknown:
            raise InputError(
                f"standard.convolution got unknown parameter(s) {unknown}; it takes kernel=… "
                f"or filters=… and multipliers=…"
            )
        has_pc = "filters" in p or "multipliers" in p
        if has_pc:
            if "filters" not in p or "multipliers" not in p:
                raise InputError(
                    "standard.convolution: product-convolution needs both filters (B, C, K, h, w) "
                    "and multipliers (B, C, K, H, W); one of them is missing"
                )
            if params.get("kernel") is not None and params.get("filters") is not None:
                raise InputError("standard.convolution: give either kernel=… or filters=…/multipliers=…, not both")
            # a call with filters overrides a kernel stored by update_parameters (and vice versa)
            if params.get("kernel") is not None:
                return {"kernel": p["kernel"]}
            return {"filters": p["filters"], "multipliers": p["multipliers"]}
        if "kernel" not in p:
            raise InputError(
                "standard.convolution needs a kernel: call A(x, kernel=k) with k (h, w) or (B, 1|C, h, w), "
                "use a blur estimator that provides 'kernel' (e.g. standard.given_kernel), or pass "
                "filters=… and multipliers=… for product-convolution"
            )
        return {"kernel": p["kernel"]}

    def _opts(self) -> dict[str, Any]:
        return {"boundary": self.boundary, "correlation": self.correlation, "method": self.method}

    # -- the operator -----------------------------------------------------------------
    def A(self, x: Tensor, **params: Any) -> Tensor:
        """``y = A x`` for ``x`` ``(B, C, H, W)``."""
        p = self._params_of(params)
        if "kernel" in p:
            return conv2d(x, p["kernel"], **self._opts())
        return product_conv2d(x, p["filters"], p["multipliers"], weighting=self.weighting, **self._opts())

    def A_adjoint(self, y: Tensor, **params: Any) -> Tensor:
        """``x = Aᵀ y`` for ``y`` of the output shape."""
        p = self._params_of(params)
        if "kernel" in p:
            return conv2d_adjoint(y, p["kernel"], **self._opts())
        return product_conv2d_adjoint(y, p["filters"], p["multipliers"], weighting=self.weighting, **self._opts())

    def transfer_function(self, size: tuple[int, int], *, onesided: bool = True, **params: Any) -> Tensor | None:
        """The DFT diagonal ``K̂`` ``(B|1, C|1, H, W//2+1)`` (or ``(…, H, W)`` with
        ``onesided=False``) of the circular uniform convolution on images of ``size``;
        ``None`` for other boundaries and for product-convolution.

        ``A x = irfft2(K̂ · rfft2(x))`` and ``Aᵀ y = irfft2(conj(K̂) · rfft2(y))``.
        """
        if self.boundary != "circular":
            return None
        p = self._params_of(params)
        if "kernel" not in p:
            return None
        k = p["kernel"]
        if not isinstance(k, Tensor):
            raise InputError(f"standard.convolution: kernel must be a tensor, got {type(k).__name__}")
        if k.dim() == 2:
            k = k[None, None]
        elif k.dim() == 3:
            k = k[:, None]
        if k.dim() != 4:
            raise InputError(f"standard.convolution: kernel must be (h, w), (B, h, w) or (B, 1|C, h, w), got {tuple(k.shape)}")
        if not k.is_floating_point():
            k = k.float()
        otf = psf2otf(k, (int(size[0]), int(size[1])), onesided=onesided)
        return otf.conj().resolve_conj() if self.correlation else otf

    def out_shape(self, in_shape: tuple[int, ...], **params: Any) -> tuple[int, ...]:
        p = self._params_of(params)
        size = p["kernel"].shape[-2:] if "kernel" in p else p["filters"].shape[-2:]
        return conv_out_shape(tuple(in_shape), (int(size[0]), int(size[1])), self.boundary)

    def extra_repr(self) -> str:
        return (
            f"boundary={self.boundary}, method={self.method}, correlation={self.correlation}, "
            f"weighting={self.weighting}"
        )

"""The five component interfaces of restorekit and the data they exchange.

Conventions (see DESIGN.md):

* images are ``(B, C, H, W)`` floating-point tensors in ``[0, 1]``, RGB when ``C == 3``;
* a blur kernel (PSF) ``k`` of shape ``(B, 1 or C, h, w)`` means ``y = k * x``, a *true*
  convolution with the kernel centred at ``(h // 2, w // 2)``;
* every component declares what it **provides** and **requires** so that
  :class:`restorekit.Pipeline` can reject a bad mix before any training starts.

Requirement strings name pieces of the pipeline state. An entry may list alternatives
separated by ``|`` (``"coefficients|map"`` is satisfied by either). The vocabulary:

===============  ==========================================================
``features``     the encoder's :class:`Features`
``depth``        ``Features.extras["depth"]`` (any encoder extra works alike)
``map``          :attr:`BlurEstimate.map`
``coefficients`` :attr:`BlurEstimate.coefficients`
``kernel``       :attr:`BlurEstimate.kernel`
``operator``     the pipeline's :class:`Operator`
``intermediates`` :attr:`DecoderOutput.intermediates`
===============  ==========================================================

Losses additionally declare ``batch_requires``: keys that must be present in the batch
(``sharp``, ``blur_map``, ``depth`` …); those are checked when the loss runs.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Iterable, Mapping

import torch
from torch import Tensor, nn

__all__ = [
    "Batch",
    "BlurEstimate",
    "BlurEstimator",
    "BoundOperator",
    "Component",
    "Decoder",
    "DecoderOutput",
    "Encoder",
    "Features",
    "Loss",
    "Operator",
    "PieceSpec",
    "PipelineOutput",
    "requirement_satisfied",
]

Batch = Mapping[str, Any]
"""A batch: ``{"blurry": (B,C,H,W), "sharp"?: (B,C,H,W), "kernel"?: (B,1|C,h,w), …}``."""


def requirement_satisfied(requirement: str, available: Iterable[str]) -> bool:
    """True when one of the ``|``-separated alternatives of ``requirement`` is available."""
    have = set(available)
    return any(alt.strip() in have for alt in requirement.split("|"))


# ---------------------------------------------------------------------------------------
# Contracts: what a piece of the pipeline state looks like
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PieceSpec:
    """A declared contract for one piece of the pipeline state (``coefficients``, ``map`` …).

    Producers declare what they return (:meth:`Component.provides_spec`), consumers what they
    accept (:meth:`Component.requires_spec`); :class:`restorekit.Pipeline` compares the two
    when it is built, field by field, and only where *both* sides declare a value, so a
    component that declares nothing is never rejected.

    Attributes:
        representation: an opaque label of the parameterisation; two labels must be equal
            (e.g. the label of a recursive-kernel basis with its size and form). ``None``:
            undeclared.
        channels: channel count (per scale, for multi-scale pieces).
        scales: number of scales of a multi-scale piece (length of the list).
        hint: how to fix a mismatch; the consumer's hint is shown in the error.
    """

    representation: str | None = None
    channels: int | None = None
    scales: int | None = None
    hint: str = ""

    def mismatches(self, produced: "PieceSpec") -> list[str]:
        """What ``produced`` gets wrong for a consumer that accepts ``self`` (empty: compatible)."""
        out: list[str] = []
        for name in ("representation", "channels", "scales"):
            want, have = getattr(self, name), getattr(produced, name)
            if want is not None and have is not None and want != have:
                out.append(f"{name} {have!r} where {want!r} is accepted")
        return out

    def describe(self) -> str:
        parts = [f"{n} {getattr(self, n)!r}" for n in ("representation", "channels", "scales") if getattr(self, n) is not None]
        return ", ".join(parts) or "no declared shape"


# ---------------------------------------------------------------------------------------
# Data exchanged between components
# ---------------------------------------------------------------------------------------


@dataclass
class Features:
    """What an :class:`Encoder` returns.

    Attributes:
        maps: feature maps, finest first; ``maps[i]`` has shape
            ``(B, channels[i], H // strides[i], W // strides[i])``.
        channels: channel count of each map (as declared by the encoder).
        strides: spatial stride of each map relative to the input image.
        extras: named extra outputs, e.g. ``{"depth": (B, 1, H, W)}``.
    """

    maps: list[Tensor]
    channels: list[int]
    strides: list[int]
    extras: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (len(self.maps) == len(self.channels) == len(self.strides)):
            raise ValueError(
                f"Features: {len(self.maps)} maps but {len(self.channels)} channel counts and "
                f"{len(self.strides)} strides; give one channel count and one stride per map"
            )

    def provided(self) -> set[str]:
        return {"features", *self.extras}


@dataclass
class BlurEstimate:
    """What a :class:`BlurEstimator` returns; estimates of several estimators merge.

    Attributes:
        map: blur-amount map ``(B, 1, h, w)`` in ``[0, 1]`` (0 = sharp).
        coefficients: per-scale RKR weights Γ, finest scale first; scale ``s`` has shape
            ``(B, G, H / 2**s, W / 2**s)``.
        kernel: a uniform PSF ``(B, 1 or C, h, w)``, non-negative, summing to 1, true
            convolution convention.
        extras: anything else, by name (e.g. per-pixel ``filters``).
    """

    map: Tensor | None = None
    coefficients: list[Tensor] | None = None
    kernel: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def provided(self) -> set[str]:
        out = {f.name for f in fields(self) if f.name != "extras" and getattr(self, f.name) is not None}
        return out | set(self.extras)

    def merge(self, later: "BlurEstimate") -> "BlurEstimate":
        """Combine with a later estimate; the later one wins where both give a piece."""
        merged = BlurEstimate(
            map=later.map if later.map is not None else self.map,
            coefficients=later.coefficients if later.coefficients is not None else self.coefficients,
            kernel=later.kernel if later.kernel is not None else self.kernel,
            extras={**self.extras, **later.extras},
        )
        return merged

    def get(self, name: str) -> Any:
        """A piece by requirement name (a field or an extra), or ``None``."""
        if name in ("map", "coefficients", "kernel"):
            return getattr(self, name)
        return self.extras.get(name)


@dataclass
class DecoderOutput:
    """What a :class:`Decoder` returns.

    Attributes:
        restored: the restored image ``(B, C, H, W)``.
        intermediates: per-scale or per-sub-decoder predictions used by multi-scale and
            progressive losses, finest/last first; each ``(B, C, H_i, W_i)``.
        extras: anything else a loss may need, by name.
    """

    restored: Tensor
    intermediates: list[Tensor] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineOutput:
    """Everything one pipeline pass produced, for the losses and the caller.

    Attributes:
        restored: ``(B, C, H, W)``, the final image.
        decoder: the decoder's full output (``intermediates`` …).
        estimate: the merged :class:`BlurEstimate` of all blur estimators.
        features: the encoder's output, or ``None`` when the pipeline has no encoder.
        operator: the pipeline's operator, or ``None``.
    """

    restored: Tensor
    decoder: DecoderOutput
    estimate: BlurEstimate
    features: Features | None = None
    operator: "Operator | None" = None

    @property
    def intermediates(self) -> list[Tensor]:
        return self.decoder.intermediates


# ---------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------


class Component(nn.Module):
    """Base class of every component.

    Subclasses set the class attributes ``kind``, ``provides`` and ``requires``; an
    instance may override ``provides``/``requires`` in ``__init__`` when they depend on
    options (e.g. a coefficient estimator that conditions on a blur map).

    ``size_multiple`` is the factor the input height and width must be divisible by
    (inference pads to it).
    """

    kind: ClassVar[str] = "component"
    provides: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()
    size_multiple: int = 1

    def provides_spec(self) -> Mapping[str, PieceSpec]:
        """Contracts of the pieces this component produces, by name (default: none declared).

        E.g. a coefficient estimator returns ``{"coefficients": PieceSpec(representation=…,
        channels=G, scales=3)}``; :class:`restorekit.Pipeline` checks it against every later
        consumer's :meth:`requires_spec`.
        """
        return {}

    def requires_spec(self) -> Mapping[str, PieceSpec]:
        """Contracts of the pieces this component accepts, by name (default: anything)."""
        return {}

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f"provides={sorted(self.provides)}, requires={sorted(self.requires)}"


class Encoder(Component):
    """Image → :class:`Features`. ``forward(image: (B,C,H,W)) -> Features``."""

    kind: ClassVar[str] = "encoder"
    provides = frozenset({"features"})
    out_channels: list[int]
    out_strides: list[int]

    @abc.abstractmethod
    def forward(self, image: Tensor) -> Features:
        """Encode ``image`` ``(B, C, H, W)``."""


class BlurEstimator(Component):
    """Estimates blur: ``forward(image, features, estimate, batch) -> BlurEstimate``.

    ``estimate`` holds what earlier estimators of the pipeline produced (possibly empty),
    ``batch`` is the input batch (e.g. for a given kernel).
    """

    kind: ClassVar[str] = "blur_estimator"

    @abc.abstractmethod
    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate,
        batch: Batch,
    ) -> BlurEstimate:
        """Estimate the blur of ``image`` ``(B, C, H, W)``."""


class Decoder(Component):
    """Restores: ``forward(image, features, estimate, operator) -> DecoderOutput``."""

    kind: ClassVar[str] = "decoder"

    @abc.abstractmethod
    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate,
        operator: "Operator | None",
    ) -> DecoderOutput:
        """Restore ``image`` ``(B, C, H, W)``."""


class Loss(Component):
    """A training objective: ``forward(output: PipelineOutput, batch) -> scalar``.

    ``requires`` names pipeline pieces (checked when the pipeline is built);
    ``batch_requires`` names batch keys (checked on every call by :meth:`check_batch`).
    """

    kind: ClassVar[str] = "loss"
    batch_requires: frozenset[str] = frozenset()

    @abc.abstractmethod
    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        """Return a scalar loss."""

    def check_batch(self, batch: Batch) -> None:
        missing = [k for k in sorted(self.batch_requires) if batch.get(k) is None]
        if missing:
            from .errors import MissingBatchKeyError

            raise MissingBatchKeyError(
                f"loss {type(self).__name__} needs batch key(s) {missing} but the batch has "
                f"{sorted(k for k, v in batch.items() if v is not None)}; use a dataset that "
                f"provides them or remove the loss"
            )


class Operator(Component):
    """A (linear or affine) forward model ``y = A(x)`` with its adjoint.

    ``A(x, **params)`` and ``A_adjoint(y, **params)`` take ``x`` ``(B, C, H, W)``; the
    parameters (``kernel``, ``filters``, ``coefficients`` …) may be passed per call or set
    once with :meth:`update_parameters`. ``requires`` names the parameters the operator
    takes from a :class:`BlurEstimate` (see :meth:`bind_estimate`).

    Class attributes:
        linear: ``True`` for a linear operator. Affine operators set ``False`` and expose
            ``A_linear`` (the linear part, used by the adjointness tests) and ``offset``.
        weighting: ``"input"`` or ``"output"`` for spatially varying operators (which side
            of the convolution the per-pixel weights sit on), ``"none"`` for uniform ones.
        amp_safe: ``False`` when the operator must run in float32/float64 (FFT code);
            :meth:`__call__` then disables autocast.
    """

    kind: ClassVar[str] = "operator"
    provides = frozenset({"operator"})
    linear: ClassVar[bool] = True
    weighting: ClassVar[str] = "none"
    amp_safe: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self._params: dict[str, Any] = {}

    # -- parameters -------------------------------------------------------------------
    def update_parameters(self, **params: Any) -> None:
        """Store default parameters used when a call does not pass them."""
        self._params.update({k: v for k, v in params.items() if v is not None})

    def _resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        merged = {**self._params, **{k: v for k, v in params.items() if v is not None}}
        return merged

    def parameters_from(self, estimate: BlurEstimate) -> dict[str, Any]:
        """The call parameters this operator takes from a blur estimate."""
        out: dict[str, Any] = {}
        for req in self.requires:
            for alt in req.split("|"):
                value = estimate.get(alt.strip())
                if value is not None:
                    out[alt.strip()] = value
                    break
            else:
                raise ValueError(
                    f"operator {type(self).__name__} needs one of {req.split('|')} from the blur "
                    f"estimators, but the estimate only has {sorted(estimate.provided())}"
                )
        return out

    def bind(self, **params: Any) -> "BoundOperator":
        """An operator object with the parameters fixed: ``bound.A(x)``, ``bound.A_adjoint(y)``."""
        return BoundOperator(self, params)

    def bind_estimate(self, estimate: BlurEstimate) -> "BoundOperator":
        return self.bind(**self.parameters_from(estimate))

    # -- the operator -----------------------------------------------------------------
    @abc.abstractmethod
    def A(self, x: Tensor, **params: Any) -> Tensor:
        """Apply the forward model to ``x`` ``(B, C, H, W)``."""

    @abc.abstractmethod
    def A_adjoint(self, y: Tensor, **params: Any) -> Tensor:
        """Apply the adjoint (of the linear part, for affine operators) to ``y``."""

    def A_linear(self, x: Tensor, **params: Any) -> Tensor:
        """The linear part of ``A`` (equals ``A`` for linear operators)."""
        return self.A(x, **params)

    def out_shape(self, in_shape: tuple[int, ...], **params: Any) -> tuple[int, ...]:
        """Shape of ``A(x)`` for ``x`` of shape ``in_shape`` (same by default)."""
        return tuple(in_shape)

    def transfer_function(self, size: tuple[int, int], *, onesided: bool = True, **params: Any) -> Tensor | None:
        """The operator's diagonal in the 2-D DFT basis, or ``None`` when it has none.

        An operator that the FFT diagonalises (a circular convolution) returns its transfer
        function ``K`` so that ``A x = ifft2(K · fft2(x))`` for images of spatial ``size``
        ``(H, W)``, and ``Aᵀ y = ifft2(conj(K) · fft2(y))``. FFT solvers (HQS, Gaussian-prior
        initialisation) use it; CG-based solvers need only :meth:`A` / :meth:`A_adjoint`.
        The tensor is complex and broadcasts against ``fft2(x)`` ``(B, C, H, W)``, or, with
        ``onesided=True``, against ``rfft2(x)`` ``(B, C, H, W // 2 + 1)``. The default
        returns ``None`` (not diagonalisable: use an iterative solver).
        """
        return None

    def forward(self, x: Tensor, **params: Any) -> Tensor:
        if not self.amp_safe and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return self.A(x.float() if x.dtype in (torch.float16, torch.bfloat16) else x, **params)
        return self.A(x, **params)

    def adjointness_error(
        self,
        in_shape: tuple[int, ...],
        dtype: torch.dtype = torch.float64,
        seed: int = 0,
        **params: Any,
    ) -> float:
        """rel = |⟨Au, v⟩ − ⟨u, Aᵀv⟩| / (‖Au‖ ‖v‖) for random ``u``, ``v`` (spec §1).

        Uses :meth:`A_linear`, so affine operators are tested on their linear part.
        """
        gen = torch.Generator().manual_seed(seed)
        device = _first_device(params)
        u = torch.randn(in_shape, generator=gen, dtype=dtype).to(device)
        Au = self.A_linear(u, **params)
        v = torch.randn(Au.shape, generator=gen, dtype=dtype).to(device)
        ATv = self.A_adjoint(v, **params)
        if ATv.shape != u.shape:
            raise AssertionError(f"A_adjoint returned shape {tuple(ATv.shape)}, expected {tuple(u.shape)}")
        lhs = (Au * v).sum()
        rhs = (u * ATv).sum()
        denom = Au.norm() * v.norm()
        return float(((lhs - rhs).abs() / denom.clamp_min(torch.finfo(dtype).tiny)).detach())


def _first_device(params: Mapping[str, Any]) -> torch.device:
    for value in params.values():
        if isinstance(value, Tensor):
            return value.device
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            return value[0].device
    return torch.device("cpu")


class BoundOperator:
    """An :class:`Operator` with its parameters fixed (what decoders and solvers use)."""

    def __init__(self, operator: Operator, params: Mapping[str, Any]) -> None:
        self.operator = operator
        self.params = dict(params)

    def A(self, x: Tensor) -> Tensor:
        return self.operator.A(x, **self.params)

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self.operator.A_adjoint(y, **self.params)

    def A_linear(self, x: Tensor) -> Tensor:
        return self.operator.A_linear(x, **self.params)

    def AtA(self, x: Tensor) -> Tensor:
        """``Aᵀ A x`` (normal operator of the linear part)."""
        return self.A_adjoint(self.A_linear(x))

    def transfer_function(self, size: tuple[int, int], *, onesided: bool = True) -> Tensor | None:
        """See :meth:`Operator.transfer_function`; ``None`` when the FFT does not diagonalise it."""
        return self.operator.transfer_function(size, onesided=onesided, **self.params)

    def __call__(self, x: Tensor) -> Tensor:
        return self.A(x)

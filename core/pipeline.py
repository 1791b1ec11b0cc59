"""``Pipeline``: encoder → blur estimator(s) → decoder (with the operator), and its losses.

Built from YAML by :func:`load_pipeline`; checks provides/requires when it is built so a
bad mix fails before training, naming the missing piece and who could provide it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import Tensor, nn

from .components import create
from .config import resolve_config
from .errors import InputError, PipelineError
from .interfaces import (
    Batch,
    BlurEstimate,
    BlurEstimator,
    Decoder,
    Encoder,
    Loss,
    Operator,
    PieceSpec,
    PipelineOutput,
    requirement_satisfied,
)
from .plugin_host import get_host


def providers_of(piece: str) -> list[str]:
    """Catalog components whose class declares that it provides ``piece``."""
    out = []
    for info in get_host().catalog:
        provided = getattr(info.factory, "provides", None)
        if isinstance(provided, (set, frozenset, tuple, list)) and piece in provided:
            out.append(info.name)
    return out


def _missing_message(who: str, requirement: str, available: Iterable[str]) -> str:
    alts = [a.strip() for a in requirement.split("|")]
    providers = sorted({p for a in alts for p in providers_of(a)})
    need = " or ".join(f"'{a}'" for a in alts)
    have = ", ".join(sorted(available)) or "nothing"
    could = f"; components that provide it: {', '.join(providers)}" if providers else ""
    return f"{who} requires {need}, but the pipeline before it only provides {have}{could}"


class CompositeLoss(nn.Module):
    """Weighted sum of losses: ``L = Σ_i w_i · L_i``. Returns the total and each term."""

    def __init__(self, losses: list[Loss], weights: list[float], names: list[str]) -> None:
        super().__init__()
        if not (len(losses) == len(weights) == len(names)):
            raise ValueError("one weight and one name per loss")
        self.losses = nn.ModuleList(losses)
        self.weights = list(weights)
        self.names = _unique(names)

    def forward(self, output: PipelineOutput, batch: Batch, active: Iterable[str] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``active`` restricts the sum to some loss names (per-stage losses)."""
        keep = set(active) if active is not None else None
        total: Tensor | None = None
        parts: dict[str, Tensor] = {}
        for loss, w, name in zip(self.losses, self.weights, self.names):
            if keep is not None and name not in keep:
                continue
            loss.check_batch(batch)
            value = loss(output, batch)
            if value.dim() != 0:
                raise PipelineError(f"loss '{name}' returned shape {tuple(value.shape)}; a loss must return a scalar")
            parts[name] = value.detach()
            total = w * value if total is None else total + w * value
        if total is None:
            total = output.restored.sum() * 0.0
        return total, parts


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}#{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


class Pipeline(nn.Module):
    """A restoration pipeline.

    ``pipeline(batch)`` with ``batch = {"blurry": (B,C,H,W), "sharp"?: …, "kernel"?: …}``
    returns a :class:`PipelineOutput`; ``pipeline.loss(output, batch)`` the composite loss.
    """

    def __init__(
        self,
        decoder: Decoder,
        encoder: Encoder | None = None,
        blur_estimators: list[BlurEstimator] | None = None,
        operator: Operator | None = None,
        losses: CompositeLoss | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.blur_estimators = nn.ModuleList(blur_estimators or [])
        self.decoder = decoder
        self.operator = operator
        self.losses = losses if losses is not None else CompositeLoss([], [], [])
        self.config = dict(config or {})
        self.check()

    # -- build-time checks ---------------------------------------------------------------
    def check(self) -> None:
        """Verify every component's ``requires`` is provided by the components before it."""
        available: set[str] = {"image"}
        if self.encoder is not None:
            if not isinstance(self.encoder, Encoder):
                raise PipelineError(f"model.encoder: {type(self.encoder).__name__} is not an Encoder")
            available |= set(self.encoder.provides)
        if self.operator is not None:
            if not isinstance(self.operator, Operator):
                raise PipelineError(f"model.operator: {type(self.operator).__name__} is not an Operator")
            available.add("operator")
        for i, est in enumerate(self.blur_estimators):
            if not isinstance(est, BlurEstimator):
                raise PipelineError(f"model.blur_estimator[{i}]: {type(est).__name__} is not a BlurEstimator")
            for req in est.requires:
                if not requirement_satisfied(req, available):
                    raise PipelineError(_missing_message(f"blur estimator {_name(est)}", req, available))
            available |= set(est.provides)
        if not isinstance(self.decoder, Decoder):
            raise PipelineError(f"model.decoder: {type(self.decoder).__name__} is not a Decoder")
        for req in self.decoder.requires:
            if not requirement_satisfied(req, available):
                raise PipelineError(_missing_message(f"decoder {_name(self.decoder)}", req, available))
        if self.operator is not None and "operator" in {r for req in self.decoder.requires for r in req.split("|")}:
            for req in self.operator.requires:
                if not requirement_satisfied(req, available):
                    raise PipelineError(_missing_message(f"operator {_name(self.operator)} (used by the decoder)", req, available))
        self._check_contracts()
        available |= set(self.decoder.provides) | {"restored", "intermediates"}
        for name, loss in zip(self.losses.names, self.losses.losses):
            for req in loss.requires:
                if not requirement_satisfied(req, available):
                    raise PipelineError(_missing_message(f"loss '{name}'", req, available))
            if "operator" in loss.requires and self.operator is not None:
                for req in self.operator.requires:
                    if not requirement_satisfied(req, available):
                        raise PipelineError(_missing_message(f"operator {_name(self.operator)} (used by loss '{name}')", req, available))
        self.available = available

    def _check_contracts(self) -> None:
        """Compare each consumer's :meth:`~restorekit.Component.requires_spec` with the
        :meth:`~restorekit.Component.provides_spec` of the component that produced the piece
        (the latest one before it, since later estimates win when they merge). Only fields
        both sides declare are compared, so undeclared components are never rejected."""
        produced: dict[str, tuple[PieceSpec, str]] = {}

        def consume(who: str, component: nn.Module) -> None:
            for piece, want in dict(getattr(component, "requires_spec", dict)()).items():
                if piece not in produced:
                    continue
                have, producer = produced[piece]
                wrong = want.mismatches(have)
                if wrong:
                    hint = f"; {want.hint}" if want.hint else ""
                    raise PipelineError(
                        f"{producer} provides '{piece}' as {have.describe()}, but {who} accepts "
                        f"{want.describe()} ({'; '.join(wrong)}){hint}"
                    )

        def produce(who: str, component: nn.Module) -> None:
            for piece, spec in dict(getattr(component, "provides_spec", dict)()).items():
                produced[piece] = (spec, who)

        if self.encoder is not None:
            produce(f"encoder {_name(self.encoder)}", self.encoder)
        for i, est in enumerate(self.blur_estimators):
            who = f"blur estimator {_name(est)} (model.blur_estimator[{i}])"
            consume(who, est)
            produce(who, est)
        if self.operator is not None:
            consume(f"operator {_name(self.operator)}", self.operator)
        consume(f"decoder {_name(self.decoder)}", self.decoder)
        produce(f"decoder {_name(self.decoder)}", self.decoder)
        for name, loss in zip(self.losses.names, self.losses.losses):
            consume(f"loss '{name}'", loss)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (lcm over components)."""
        m = 1
        for c in self.components().values():
            m = math.lcm(m, int(getattr(c, "size_multiple", 1) or 1))
        return m

    def components(self) -> dict[str, nn.Module]:
        """Component path → module (``encoder``, ``blur_estimator.0``, ``decoder``, ``operator``)."""
        out: dict[str, nn.Module] = {}
        if self.encoder is not None:
            out["encoder"] = self.encoder
        for i, est in enumerate(self.blur_estimators):
            out[f"blur_estimator.{i}"] = est
        out["decoder"] = self.decoder
        if self.operator is not None:
            out["operator"] = self.operator
        return out

    # -- running -------------------------------------------------------------------------
    def check_input(self, image: Any) -> Tensor:
        if not isinstance(image, Tensor):
            raise InputError(f"batch['blurry'] must be a torch.Tensor (B, C, H, W), got {type(image).__name__}")
        if image.dim() != 4:
            raise InputError(
                f"batch['blurry'] must have shape (B, C, H, W), got {tuple(image.shape)}; "
                f"add a batch dimension with image[None] or channels with image[:, None]"
            )
        if not image.is_floating_point():
            raise InputError(
                f"batch['blurry'] must be a floating-point tensor in [0, 1], got {image.dtype}; "
                f"convert with image.float() / 255 for 8-bit data"
            )
        m = self.size_multiple
        if image.shape[-1] % m or image.shape[-2] % m:
            raise InputError(
                f"this pipeline needs height and width divisible by {m}, got {tuple(image.shape[-2:])}; "
                f"pad the image (restorekit deblur does this automatically)"
            )
        return image

    def forward(self, batch: Batch | Tensor) -> PipelineOutput:
        if isinstance(batch, Tensor):
            batch = {"blurry": batch}
        if "blurry" not in batch:
            raise InputError(f"the batch needs a 'blurry' image; it has keys {sorted(batch)}")
        image = self.check_input(batch["blurry"])
        features = self.encoder(image) if self.encoder is not None else None
        estimate = BlurEstimate()
        for est in self.blur_estimators:
            estimate = estimate.merge(est(image, features, estimate, batch))
        out = self.decoder(image, features, estimate, self.operator)
        return PipelineOutput(restored=out.restored, decoder=out, estimate=estimate, features=features, operator=self.operator)

    def loss(self, output: PipelineOutput, batch: Batch, active: Iterable[str] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        return self.losses(output, batch, active)

    @torch.no_grad()
    def restore(self, image: Tensor, **batch: Any) -> Tensor:
        """Convenience: ``restored`` for one image batch in eval mode."""
        was = self.training
        self.eval()
        try:
            return self({"blurry": image, **batch}).restored
        finally:
            self.train(was)


def _name(module: nn.Module) -> str:
    return getattr(module, "component_name", type(module).__name__)


def build_pipeline(resolved: Mapping[str, Any]) -> Pipeline:
    """Build a :class:`Pipeline` from a *resolved* config (see :func:`resolve_config`)."""
    model = resolved["model"]

    def make(spec: Mapping[str, Any], kind: str, path: str, reserved: tuple[str, ...] = ("type",)) -> Any:
        opts = {k: v for k, v in spec.items() if k not in reserved}
        obj = create(spec["type"], kind=kind, _path=path, **opts)
        try:
            obj.component_name = spec["type"]
        except AttributeError:
            pass
        return obj

    encoder = make(model["encoder"], "encoder", "model.encoder") if "encoder" in model else None
    ests = model.get("blur_estimator") or []
    if isinstance(ests, Mapping):
        ests = [ests]
    estimators = [make(s, "blur_estimator", f"model.blur_estimator[{i}]") for i, s in enumerate(ests)]
    decoder = make(model["decoder"], "decoder", "model.decoder")
    operator = make(model["operator"], "operator", "model.operator") if "operator" in model else None
    losses, weights, names = [], [], []
    for i, spec in enumerate(resolved.get("losses", [])):
        losses.append(make(spec, "loss", f"losses[{i}]", reserved=("type", "weight", "name")))
        weights.append(float(spec.get("weight", 1.0)))
        names.append(str(spec.get("name") or spec["type"]))
    return Pipeline(
        decoder=decoder,
        encoder=encoder,
        blur_estimators=estimators,
        operator=operator,
        losses=CompositeLoss(losses, weights, names),
        config=resolved,
    )


def load_pipeline(
    source: str | Path | Mapping[str, Any],
    overrides: list[str] | Mapping[str, Any] | None = None,
) -> Pipeline:
    """Load, validate and build a pipeline from a YAML path or a dict.

    >>> pipe = load_pipeline("pipelines/tiny.yaml", overrides=["model.decoder.width=8"])
    """
    return build_pipeline(resolve_config(source, overrides))

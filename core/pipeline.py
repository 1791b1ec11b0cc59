"""``Pipeline``: encoder → blur estimator(s) → decoder (with the operator), and its losses.

Built from YAML by :func:`load_pipeline`; checks provides/requires when it is built so a
bad mix fails before training, naming the missing piece and who could provide it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import Tensor, nn

from .components import create
from .config import resolve_config
from .errors import InputError, PipelineError, RestorekitError
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
        try:
            obj = create(spec["type"], kind=kind, _path=path, **opts)
        except (RuntimeError, MemoryError) as exc:
            refusal = _too_big(exc, f"{path} ({spec['type']})")
            if refusal is None:
                raise
            raise refusal from exc
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


# ---------------------------------------------------------------------------------------
# Memory: refuse a pipeline that cannot fit before allocating it
# ---------------------------------------------------------------------------------------

GB = 1e9
_OVERFLOW = re.compile(r"overflow", re.I)
_ALLOC = re.compile(r"(can't allocate memory|not enough memory|out of memory).*?(\d+) bytes", re.I | re.S)


def _too_big(exc: BaseException, who: str) -> PipelineError | None:
    """A :class:`PipelineError` for an allocation that cannot succeed, or ``None``."""
    text = " ".join(str(exc).split())
    if _OVERFLOW.search(text) and "size" in text.lower():
        sizes = re.search(r"sizes=(\[[^\]]*\])", text)
        shape = f" of sizes {sizes.group(1)}" if sizes else ""
        avail = available_memory()
        have = f" (about {avail / GB:.1f} GB is available)" if avail else ""
        return PipelineError(
            f"{who} does not fit in memory: one of its parameters{shape} would need more than 2^63 bytes "
            f"(over 9e9 GB){have}; reduce its size options (width, depth, channels …)"
        )
    m = _ALLOC.search(text)
    if isinstance(exc, MemoryError) or m or type(exc).__name__ == "OutOfMemoryError":
        need = f" (it tried to allocate {int(m.group(2)) / GB:.1f} GB" if m else " ("
        avail = available_memory()
        have = f"; about {avail / GB:.1f} GB is available)" if avail else ")"
        return PipelineError(f"{who}: its parameters do not fit in memory{need}{have}; reduce its size options (width, depth …)")
    return None


def available_memory(device: torch.device | str | None = None) -> int | None:
    """Bytes that can still be allocated: free GPU memory for a CUDA device; for the CPU
    ``MemAvailable`` of ``/proc/meminfo``, capped by the cgroup (container) limit. ``None``
    when unknown."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(dev)[0])
        except Exception:  # noqa: BLE001 - no driver, no device
            return None
    if dev.type != "cpu":
        return None
    avail: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < (1 << 60):
            avail = min(avail, max(0, int(limit) - usage))
        break
    return avail


@dataclass
class MemoryEstimate:
    """What a pipeline needs, from a build on the ``meta`` device (nothing allocated).

    Attributes:
        parameters: number of parameters; ``parameter_bytes``/``buffer_bytes`` their storage.
        trainable_bytes: bytes of the parameters that train (they get gradients and Adam moments).
        activation_bytes: what autograd keeps for the backward pass of one training batch
            (:func:`probe_activations`), or ``None`` when not measured.
        training_bytes: weights + buffers + gradients + two Adam moments (+ an EMA copy) +
            activations — a lower bound of the peak (temporary buffers come on top).
        inference_bytes: weights + buffers.
        components: component path → parameter count, largest first.
    """

    parameters: int
    parameter_bytes: int
    buffer_bytes: int
    trainable_bytes: int
    activation_bytes: int | None
    training_bytes: int
    inference_bytes: int
    components: list[tuple[str, str, int]] = field(default_factory=list)


def meta_pipeline(resolved: Mapping[str, Any]) -> Pipeline | None:
    """The pipeline built on the ``meta`` device (shapes only, no memory), or ``None`` when a
    component cannot be built there (e.g. it computes with its weights while constructed).

    Raises:
        RestorekitError: a configuration error a component raises while being built, or a
            :class:`PipelineError` for a parameter too large to exist.
    """
    try:
        with torch.device("meta"):
            return build_pipeline(resolved)
    except RestorekitError:
        raise
    except Exception:  # noqa: BLE001 - any other failure just means "cannot tell here"
        return None


def probe_activations(pipeline: Pipeline, batch_size: int, crop: int, channels: int = 3, probe: int = 64) -> int | None:
    """Bytes autograd keeps for the backward pass of a training batch ``(batch_size,
    channels, crop, crop)``, measured on one ``probe × probe`` image (forward and losses,
    tensors counted by :func:`torch.autograd.graph.saved_tensors_hooks`) and scaled by the
    number of pixels — exact for convolutional networks, a lower bound for components whose
    memory grows faster than the image (global attention). The probe leaves no trace: the
    RNG states and buffers (BatchNorm statistics) are restored, no gradient is computed.
    ``None`` when the probe cannot run."""
    import random

    import numpy as np

    m = int(pipeline.size_multiple or 1)
    side = max(m, m * math.ceil(probe / m))
    params = list(pipeline.parameters())
    device = params[0].device if params else torch.device("cpu")
    x = torch.full((1, channels, side, side), 0.5, device=device)
    kernel = torch.zeros(1, 1, 3, 3, device=device)
    kernel[..., 1, 1] = 1.0
    batch = {"blurry": x, "sharp": x, "kernel": kernel}
    seen: set[int] = set()
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        if id(t) not in seen and not isinstance(t, nn.Parameter):
            seen.add(id(t))
            total += t.numel() * t.element_size()
        return t

    buffers = {k: b.detach().clone() for k, b in pipeline.named_buffers()}
    py_state, np_state = random.getstate(), np.random.get_state()
    was = pipeline.training
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            pipeline.train(True)
            out = pipeline(batch)
            if len(pipeline.losses.losses):
                pipeline.loss(out, batch)
    except Exception:  # noqa: BLE001 - a component that needs more than the probe batch has
        return None
    finally:
        pipeline.train(was)
        random.setstate(py_state)
        np.random.set_state(np_state)
        with torch.no_grad():
            for k, b in pipeline.named_buffers():
                if k in buffers:
                    b.copy_(buffers[k])
    return int(total * batch_size * crop * crop / (side * side))


def estimate_memory(
    resolved: Mapping[str, Any],
    training: bool = False,
    ema: bool = False,
    pipeline: Pipeline | None = None,
    activation_bytes: int | None = None,
) -> MemoryEstimate | None:
    """Estimate the memory of a resolved config's pipeline without allocating it (``None``
    when it cannot be built on the ``meta`` device), or of ``pipeline`` if given. The
    activations of a training batch are not known without running the model: pass
    ``activation_bytes`` from :func:`probe_activations`. See :class:`MemoryEstimate`."""
    pipe = pipeline if pipeline is not None else meta_pipeline(resolved)
    if pipe is None:
        return None
    params = list(pipe.parameters())
    n = sum(p.numel() for p in params)
    pbytes = sum(p.numel() * p.element_size() for p in params)
    bbytes = sum(b.numel() * b.element_size() for b in pipe.buffers())
    tbytes = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    comps = []
    for path, module in pipe.components().items():
        comps.append((path, getattr(module, "component_name", type(module).__name__), sum(p.numel() for p in module.parameters())))
    comps.sort(key=lambda c: -c[2])
    act = activation_bytes if training else None
    train_bytes = pbytes + bbytes + 3 * tbytes + ((pbytes + bbytes) if ema else 0) + (act or 0)
    return MemoryEstimate(n, pbytes, bbytes, tbytes, act, train_bytes, pbytes + bbytes, comps)


def check_memory(
    resolved: Mapping[str, Any],
    training: bool = False,
    batch_size: int | None = None,
    crop: int | None = None,
    device: torch.device | str | None = None,
    ema: bool = False,
    pipeline: Pipeline | None = None,
    activation_bytes: int | None = None,
    allocated: bool = False,
) -> MemoryEstimate | None:
    """Refuse (:class:`PipelineError`) a pipeline whose estimate exceeds the memory available
    on ``device``; returns the estimate (``None``: unknown). Called before the pipeline is
    built (its meta build is measured), and by the trainer again once the built
    ``pipeline`` (``allocated``: its weights already take memory) has had its activations
    probed (``activation_bytes``), before the first training step."""
    est = estimate_memory(resolved, training, ema, pipeline, activation_bytes)
    if est is None:
        return None
    avail = available_memory(device)
    if avail is None:
        return est
    need = est.training_bytes if training else est.inference_bytes
    if allocated:
        avail += est.inference_bytes  # the weights already in memory are part of the need
    if need <= avail:
        return est
    dev = str(device or "cpu")
    big = ", ".join(f"{path} ({name}) {count:,}" for path, name, count in est.components[:2] if count)
    what = f"the pipeline has {est.parameters:,} parameters ({est.parameter_bytes / GB:,.1f} GB; largest: {big})"
    if training:
        parts = "weights, gradients, Adam moments" + (", EMA" if ema else "")
        if est.activation_bytes is not None:
            parts += f", {est.activation_bytes / GB:,.1f} GB of activations for a batch of {batch_size} at {crop}²"
        need_text = f"training needs about {need / GB:,.1f} GB ({parts})"
    else:
        need_text = f"its weights need about {need / GB:,.1f} GB"
    largest = f"model.{est.components[0][0]}" if est.components else "model"
    raise PipelineError(
        f"the pipeline does not fit in memory: {what}; {need_text} but about {avail / GB:,.1f} GB is available "
        f"on {dev}; reduce model size options ({largest}: width, depth …)"
        + (", train.batch_size or data.train.crop" if training else "")
    )

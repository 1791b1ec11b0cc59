"""Load checkpoints of the official NRKNet implementation (csZcWu/NRKNet) into the plugin.

The official ``NRKNet_epoch{N}.pth`` files are a plain ``state_dict`` (spec nrknet.md §7):
``GCM.kernels`` and ``SummationLayer.conv.*`` belong to the operator ``nrknet.rkr``
(reference form); ``feat_extract.*``, ``Encoder.*``, ``Decoder.*``, ``bottleneck.*`` and
``APU.*`` to the Γ estimator ``nrknet.coefficients`` (same names, copied 1:1).

**Colour order.** The official code reads images with OpenCV, so its weights expect
**BGR**. With ``channel_order="rgb"`` (default) the converter permutes the colour axes of
the weights — the input channels of ``feat_extract.0``, the per-colour atoms
``GCM.kernels[3j + c]`` and both colour axes of the mixing conv and its bias — so the
converted model takes and returns **RGB**, the toolkit's convention, and computes exactly
what the official model computes on the BGR image (Γ is shared by the colours and
unaffected). ``channel_order="bgr"`` copies everything 1:1; then feed BGR images.

Command line::

    python -m restorekit.plugins.nrknet.convert NRKNet_epoch3000.pth -o nrknet_dpdd.safetensors

writes the converted weights under the pipeline's state-dict names
(``blur_estimators.0.*``, ``operator.*``) as safetensors, for
``pipelines/nrknet.yaml`` (``restorekit deblur … --pipeline pipelines/nrknet.yaml --weights nrknet_dpdd.safetensors``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Literal, Mapping

import torch
from torch import Tensor, nn

from restorekit import InputError
from restorekit.errors import RestorekitError

__all__ = [
    "OPERATOR_KEYS",
    "load_official_state_dict",
    "convert_official_state_dict",
    "load_official_checkpoint",
    "to_official_state_dict",
    "main",
]

OPERATOR_KEYS: dict[str, str] = {
    "GCM.kernels": "kernels",
    "SummationLayer.conv.weight": "mixing.weight",
    "SummationLayer.conv.bias": "mixing.bias",
}
"""Official key → ``nrknet.rkr`` (reference form) key; every other key goes to the estimator."""

ESTIMATOR_PREFIXES = ("feat_extract.", "Encoder.", "Decoder.", "bottleneck.", "APU.")


def load_official_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read an official ``.pth`` (a plain state dict; a ``module.`` prefix from
    DataParallel and a ``{"state_dict": …}``/``{"model": …}`` wrapper are tolerated).

    Raises:
        InputError: the file does not exist or does not hold a state dict.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"NRKNet checkpoint '{p}' does not exist; give the path to an official NRKNet_epoch<N>.pth file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsupported files
        raise InputError(f"could not read NRKNet checkpoint '{p}': {exc}") from exc
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model", "net"):
            if wrapper in obj and isinstance(obj[wrapper], Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise InputError(f"'{p}' does not contain a state dict of tensors (got {type(obj).__name__})")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def _flip_colours(t: Tensor, dim: int, channels: int = 3) -> Tensor:
    """Reverse the colour axis (RGB ↔ BGR) of ``t`` along ``dim``, whose size is ``k·channels``
    in kernel-major, colour-minor order."""
    shape = list(t.shape)
    groups = shape[dim] // channels
    view = t.reshape(shape[:dim] + [groups, channels] + shape[dim + 1 :])
    return view.flip(dim + 1).reshape(shape)


def convert_official_state_dict(
    state: Mapping[str, Tensor],
    channel_order: Literal["rgb", "bgr"] = "rgb",
    extra_input_channels: int = 0,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Split an official state dict into ``(estimator_state, operator_state)``.

    Rules (spec §7): ``GCM.kernels[3j + c]`` → atom ``j + 1``, colour ``c`` (the operator's
    ``kernels``, same layout); ``SummationLayer.conv`` → mixing ``W``, ``b``; everything
    else 1:1. With ``channel_order="rgb"`` the colour axes are reversed (see module doc).
    ``extra_input_channels`` appends zero input weights to ``feat_extract.0`` (for
    ``condition_on_map: true``: the map channel starts with no influence).

    Raises:
        InputError: operator keys are missing, or a key belongs to neither component.
    """
    if channel_order not in ("rgb", "bgr"):
        raise InputError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    missing = [k for k in OPERATOR_KEYS if k not in state]
    if missing:
        raise InputError(
            f"the checkpoint lacks the RKR operator key(s) {missing}; it is not an official NRKNet (FullRKR) "
            f"checkpoint — expected keys {list(OPERATOR_KEYS)} plus feat_extract.*, Encoder.*, Decoder.*, bottleneck.*, APU.*"
        )
    unknown = [k for k in state if k not in OPERATOR_KEYS and not k.startswith(ESTIMATOR_PREFIXES)]
    if unknown:
        raise InputError(
            f"unexpected key(s) {unknown[:8]}{' …' if len(unknown) > 8 else ''} in the NRKNet checkpoint; "
            f"an official checkpoint only has GCM.*, SummationLayer.*, APU.*, feat_extract.*, Encoder.*, Decoder.*, bottleneck.*"
        )
    operator = {OPERATOR_KEYS[k]: state[k].clone() for k in OPERATOR_KEYS}
    estimator = {k: v.clone() for k, v in state.items() if k not in OPERATOR_KEYS}
    first = "feat_extract.0.main.0.weight"
    if channel_order == "rgb":
        operator["kernels"] = _flip_colours(operator["kernels"], 0)
        operator["mixing.weight"] = _flip_colours(_flip_colours(operator["mixing.weight"], 0), 1)
        operator["mixing.bias"] = _flip_colours(operator["mixing.bias"], 0)
        if first in estimator:
            estimator[first] = estimator[first].flip(1)
    if extra_input_channels and first in estimator:
        w = estimator[first]
        estimator[first] = torch.cat([w, w.new_zeros(w.shape[0], extra_input_channels, *w.shape[2:])], dim=1)
    return estimator, operator


def _load_strict(module: nn.Module, state: Mapping[str, Tensor], what: str, hint: str) -> None:
    """``load_state_dict(strict=True)`` with a clear message for missing/unexpected keys and shapes."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise InputError(
            f"cannot load the NRKNet checkpoint into {what}: missing keys {missing[:8]}, unexpected keys "
            f"{unexpected[:8]}; {hint}"
        )
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise InputError(
                f"cannot load the NRKNet checkpoint into {what}: '{k}' has shape {tuple(v.shape)} in the checkpoint "
                f"but {tuple(own[k].shape)} in the model; {hint}"
            )
    module.load_state_dict(state, strict=True)


def load_official_checkpoint(
    source: str | Path | Mapping[str, Tensor],
    estimator: nn.Module,
    operator: nn.Module,
    channel_order: Literal["rgb", "bgr"] = "rgb",
) -> None:
    """Load an official checkpoint (a path or a state dict) into an ``nrknet.coefficients``
    estimator and an ``nrknet.rkr`` operator (both ``form="reference"``), strictly.

    Raises:
        InputError: missing file, missing/unexpected keys or mismatched shapes, with the
            option to change (the official model is ``form: reference, num_kernels: 21,
            widths: [64, 128, 256]``).
    """
    state = load_official_state_dict(source) if isinstance(source, (str, Path)) else dict(source)
    if getattr(operator, "form", "reference") != "reference" or getattr(estimator, "form", "reference") != "reference":
        raise InputError("official NRKNet checkpoints use the reference form: set form: reference on nrknet.rkr and nrknet.coefficients")
    extra = 1 if getattr(estimator, "condition_on_map", False) else 0
    est_state, op_state = convert_official_state_dict(state, channel_order, extra_input_channels=extra)
    rows = state["GCM.kernels"].shape[0]
    hint = (
        f"the checkpoint has J = {rows // 3} atoms; build the components with form: reference, num_kernels: {rows // 3}, "
        f"widths: [64, 128, 256], num_res: 1"
    )
    _load_strict(operator, op_state, "nrknet.rkr", hint)
    _load_strict(estimator, est_state, "nrknet.coefficients", hint)


def to_official_state_dict(
    estimator: nn.Module,
    operator: nn.Module,
    channel_order: Literal["rgb", "bgr"] = "rgb",
) -> dict[str, Tensor]:
    """The inverse mapping: our components → an official-layout state dict (BGR weights).

    ``channel_order`` is the order the components work in (``"rgb"``: colour axes are
    reversed on export so that the official code, fed BGR, computes the same).
    """
    out = {k: v.detach().clone() for k, v in estimator.state_dict().items()}
    inverse = {v: k for k, v in OPERATOR_KEYS.items()}
    op = operator.state_dict()
    for ours, theirs in inverse.items():
        if ours not in op:
            raise InputError(f"the operator has no '{ours}'; only the reference form of nrknet.rkr has an official layout")
        out[theirs] = op[ours].detach().clone()
    if channel_order == "rgb":
        out["GCM.kernels"] = _flip_colours(out["GCM.kernels"], 0)
        out["SummationLayer.conv.weight"] = _flip_colours(_flip_colours(out["SummationLayer.conv.weight"], 0), 1)
        out["SummationLayer.conv.bias"] = _flip_colours(out["SummationLayer.conv.bias"], 0)
        out["feat_extract.0.main.0.weight"] = out["feat_extract.0.main.0.weight"].flip(1)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: convert an official ``.pth`` to pipeline-named safetensors weights."""
    parser = argparse.ArgumentParser(
        prog="python -m restorekit.plugins.nrknet.convert",
        description="Convert an official NRKNet checkpoint (csZcWu/NRKNet) to restorekit weights (safetensors).",
    )
    parser.add_argument("checkpoint", help="official NRKNet_epoch<N>.pth")
    parser.add_argument("-o", "--out", required=True, help="output .safetensors file")
    parser.add_argument("--channel-order", choices=("rgb", "bgr"), default="rgb", help="colour order the converted model takes (default rgb)")
    parser.add_argument("--estimator-index", type=int, default=0, help="index of nrknet.coefficients in model.blur_estimator (default 0)")
    args = parser.parse_args(argv)
    try:
        return _convert(args)
    except RestorekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _convert(args: argparse.Namespace) -> int:
    from safetensors.torch import save_file

    from .coefficients import RKRCoefficientEstimator
    from .rkr import RecursiveKernelOperator

    state = load_official_state_dict(args.checkpoint)
    num_kernels = state["GCM.kernels"].shape[0] // 3 if "GCM.kernels" in state else 21
    estimator = RKRCoefficientEstimator(form="reference", num_kernels=num_kernels)
    operator = RecursiveKernelOperator(form="reference", num_kernels=num_kernels)
    load_official_checkpoint(state, estimator, operator, channel_order=args.channel_order)
    tensors = {f"blur_estimators.{args.estimator_index}.{k}": v.contiguous() for k, v in estimator.state_dict().items()}
    tensors.update({f"operator.{k}": v.contiguous() for k, v in operator.state_dict().items()})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:  # written atomically: a crash never leaves a half-written weights file
        save_file(tensors, str(tmp), metadata={"source": str(args.checkpoint), "channel_order": args.channel_order, "num_kernels": str(num_kernels)})
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"wrote {len(tensors)} tensors to {out} (J = {num_kernels}, channel order {args.channel_order})")
    return 0


if __name__ == "__main__":  # pragma: no cover - CLI entry
    raise SystemExit(main())

"""Gradient checks of the conformance suite: ``torch.autograd.gradcheck`` in float64, and the
device × dtype matrix, in the manner of kornia's ``testing/base.py``.

Every ``check_*`` function of :mod:`restorekit.testing.conformance` calls
:func:`gradcheck_module` (or, for operators, gradcheck on ``A``/``A_adjoint``) on small
float64 inputs, with respect to the inputs *and* the component's trainable parameters, so a
custom ``autograd.Function`` whose backward is wrong fails the suite.

Opting out: a component whose forward is not differentiable everywhere (top-k masks, hard
thresholds, early exits) or that deliberately cuts gradients (a frozen encoder running
under ``no_grad``) sets ``gradcheck_exempt`` (a class attribute, or per instance in
``__init__``) to the reason, e.g. ``gradcheck_exempt = "top-k masking is piecewise
constant"``; or the caller passes
``gradcheck="reason"``. A reason is required: ``True`` runs the check, a non-empty string
skips it and is reported, anything else is an error.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn
from torch.autograd.gradcheck import GradcheckError
from torch.func import functional_call

GRADCHECK_TOL = {"atol": 1e-5, "rtol": 1e-3}
"""float64 tolerances of the numerical-vs-analytical comparison (fast mode)."""

MAX_PARAMETER_ELEMENTS = 200_000
"""Parameters beyond this many elements are left out of the gradcheck (kept constant)."""


def devices() -> list[torch.device]:
    """The devices of the matrix: the CPU, and CUDA when present."""
    out = [torch.device("cpu")]
    if torch.cuda.is_available():
        out.append(torch.device("cuda"))
    return out


def dtype_matrix(dtypes: Sequence[torch.dtype] = (torch.float32, torch.float64)) -> list[tuple[torch.device, torch.dtype]]:
    """``(device, dtype)`` pairs to run the smoke checks on (CPU float32/float64; CUDA too)."""
    return [(d, t) for d in devices() for t in dtypes]


def exemption(component: Any, gradcheck: bool | str) -> str | None:
    """The reason to skip the gradcheck, or ``None`` to run it.

    Raises:
        AssertionError: ``gradcheck`` is neither ``True`` nor a non-empty reason, or the
            component's ``gradcheck_exempt`` is not a non-empty string.
    """
    if isinstance(gradcheck, str):
        if not gradcheck.strip():
            raise AssertionError("gradcheck opt-out needs a stated reason (a non-empty string)")
        return gradcheck
    if gradcheck is not True:
        raise AssertionError("gradcheck must be True or a string giving the reason to skip it")
    reason = getattr(component, "gradcheck_exempt", None)
    if reason is None:
        return None
    if not isinstance(reason, str) or not reason.strip():
        raise AssertionError(f"{type(component).__name__}.gradcheck_exempt must be a non-empty reason string")
    return reason


def to_dtype(value: Any, dtype: torch.dtype, device: torch.device | None = None) -> Any:
    """``value`` with every floating tensor (also inside lists, dicts, dataclasses) cast."""
    import dataclasses

    if isinstance(value, Tensor):
        out = value.to(device) if device is not None else value
        return out.to(dtype) if out.is_floating_point() else out
    if isinstance(value, (list, tuple)):
        return type(value)(to_dtype(v, dtype, device) for v in value)
    if isinstance(value, dict):
        return {k: to_dtype(v, dtype, device) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: to_dtype(getattr(value, f.name), dtype, device) for f in dataclasses.fields(value)})
    return value


def _flatten_output(out: Any) -> Tensor:
    """One tensor of every floating output value (gradcheck compares all of them)."""
    import dataclasses

    parts: list[Tensor] = []

    def walk(v: Any) -> None:
        if isinstance(v, Tensor):
            if v.is_floating_point():
                parts.append(v.reshape(-1))
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                walk(getattr(v, f.name))

    walk(out)
    if not parts:
        raise AssertionError("the component returned no floating-point tensor to check gradients of")
    return torch.cat(parts)


def run_gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], what: str) -> None:
    """``torch.autograd.gradcheck(fn, inputs)`` (float64, fast mode) with a readable failure."""
    try:
        ok = torch.autograd.gradcheck(fn, tuple(inputs), fast_mode=True, raise_exception=True, **GRADCHECK_TOL)
    except GradcheckError as exc:
        raise AssertionError(
            f"gradcheck failed for {what}: the analytical gradient (backward) disagrees with finite "
            f"differences in float64 — a custom backward is wrong, or the forward is not differentiable "
            f"here (then set gradcheck_exempt = '<reason>'). Details: {str(exc).splitlines()[0]}"
        ) from None
    assert ok, f"gradcheck failed for {what}"


class _Bound(nn.Module):
    """Holds the module under test as ``m`` so ``functional_call`` can swap its parameters."""

    def __init__(self, m: nn.Module, forward: Callable[[nn.Module, Sequence[Tensor]], Any]) -> None:
        super().__init__()
        self.m = m
        self._forward = forward

    def forward(self, *args: Tensor) -> Any:
        return self._forward(self.m, args)


def gradcheck_module(
    module: nn.Module,
    forward: Callable[[nn.Module, Sequence[Tensor]], Any],
    inputs: Sequence[Tensor],
    what: str,
    device: torch.device | None = None,
) -> None:
    """Gradcheck ``forward(module, inputs)`` in float64 w.r.t. ``inputs`` and ``module``'s
    trainable parameters (flattened into one vector; the largest are kept constant past
    :data:`MAX_PARAMETER_ELEMENTS` elements)."""
    device = device or torch.device("cpu")
    m = copy.deepcopy(module).to(device=device, dtype=torch.float64)
    m.eval()
    names: list[str] = []
    shapes: list[torch.Size] = []
    total = 0
    for name, p in sorted(m.named_parameters(), key=lambda kv: kv[1].numel()):
        if not p.requires_grad or total + p.numel() > MAX_PARAMETER_ELEMENTS:
            continue
        names.append(name)
        shapes.append(p.shape)
        total += p.numel()
    params = dict(m.named_parameters())
    flat = (
        torch.cat([params[n].detach().reshape(-1) for n in names]).requires_grad_(True)
        if names
        else torch.zeros(0, dtype=torch.float64, device=device, requires_grad=False)
    )
    xs = [x.detach().to(device=device, dtype=torch.float64).requires_grad_(x.is_floating_point()) for x in inputs]

    bound = _Bound(m, forward)

    def fn(flat_params: Tensor, *args: Tensor) -> Tensor:
        chunks = torch.split(flat_params, [s.numel() for s in shapes]) if names else []
        override = {f"m.{n}": c.reshape(s) for n, c, s in zip(names, chunks, shapes)}
        return _flatten_output(functional_call(bound, override, tuple(args)))

    check_inputs = [flat] + xs if names else xs
    if names:
        run_gradcheck(fn, check_inputs, what)
    else:
        run_gradcheck(lambda *a: fn(flat, *a), xs, what)

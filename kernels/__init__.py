"""restorekit.kernels: Triton kernels with PyTorch references and a dispatcher.

Each public function takes the arguments of its reference in :mod:`.reference` plus a
keyword ``backend``:

* ``"reference"``: the pure-PyTorch reference (any device, any float dtype);
* ``"triton"``: the Triton kernel (``kernels/triton_*.py``); an error if Triton or the
  kernel module is unavailable (set ``TRITON_INTERPRET=1`` to run it on the CPU);
* ``"auto"`` (default): Triton when the input is on CUDA and the Triton kernel imports,
  the reference otherwise. The environment variable ``RESTOREKIT_KERNELS`` sets what
  ``"auto"`` means: ``reference`` forces the reference, ``triton`` forces Triton,
  ``auto``/unset is the rule above. An explicit ``backend=`` argument always wins.

The Triton modules are imported lazily, on the first call that wants them, so this
package works without Triton installed. This package imports neither the core nor the
plugins.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable

from torch import Tensor

from . import reference
from .traffic import rkr_macs_per_pixel, rkr_traffic_floats_per_pixel, tile_halo_factor

__all__ = [
    "BACKENDS",
    "KernelBackendError",
    "pixel_filter_adjoint",
    "pixel_filter_apply",
    "resolve_backend",
    "rkr_apply",
    "rkr_apply_adjoint",
    "rkr_macs_per_pixel",
    "rkr_traffic_floats_per_pixel",
    "separable_conv3_reflect",
    "tile_halo_factor",
    "triton_available",
]

BACKENDS = ("auto", "triton", "reference")
ENV_VAR = "RESTOREKIT_KERNELS"

# public name -> (Triton module, Triton function name)
_TRITON_SOURCES: dict[str, tuple[str, str]] = {
    "separable_conv3_reflect": ("triton_separable", "separable_conv3_reflect_triton"),
    "rkr_apply": ("triton_rkr", "rkr_apply_triton"),
    "rkr_apply_adjoint": ("triton_rkr", "rkr_apply_adjoint_triton"),
    "pixel_filter_apply": ("triton_pixel_filter", "pixel_filter_apply_triton"),
    "pixel_filter_adjoint": ("triton_pixel_filter", "pixel_filter_adjoint_triton"),
}


class KernelBackendError(RuntimeError):
    """The requested kernel backend is unknown or not available on this machine."""


def _load_triton(name: str) -> tuple[Callable[..., Tensor] | None, str]:
    """The Triton implementation of ``name`` and ``""``, or ``None`` and the reason."""
    module_name, func_name = _TRITON_SOURCES[name]
    try:
        importlib.import_module("triton")
    except Exception as exc:  # ImportError, or a broken install
        return None, f"triton cannot be imported ({type(exc).__name__}: {exc})"
    try:
        module = importlib.import_module(f".{module_name}", __name__)
    except Exception as exc:
        return None, f"restorekit.kernels.{module_name} cannot be imported ({type(exc).__name__}: {exc})"
    func = getattr(module, func_name, None)
    if func is None:
        return None, f"restorekit.kernels.{module_name} has no function {func_name}"
    return func, ""


def triton_available(name: str = "rkr_apply") -> bool:
    """True when the Triton kernel for the public function ``name`` can be loaded."""
    if name not in _TRITON_SOURCES:
        raise KernelBackendError(f"unknown kernel {name!r}; one of {sorted(_TRITON_SOURCES)}")
    return _load_triton(name)[0] is not None


def resolve_backend(name: str, backend: str, x: Tensor) -> str:
    """``"triton"`` or ``"reference"``: what a call of kernel ``name`` on ``x`` will run."""
    if backend not in BACKENDS:
        raise KernelBackendError(f"unknown kernel backend {backend!r}; use one of {list(BACKENDS)}")
    if backend != "auto":
        return backend
    env = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if env not in BACKENDS:
        raise KernelBackendError(f"{ENV_VAR}={env!r} is not a kernel backend; use one of {list(BACKENDS)}")
    if env != "auto":
        return env
    if isinstance(x, Tensor) and x.is_cuda and triton_available(name):
        return "triton"
    return "reference"


def _dispatch(name: str, backend: str, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    chosen = resolve_backend(name, backend, x)
    if chosen == "reference":
        return getattr(reference, name)(x, *args, **kwargs)
    func, reason = _load_triton(name)
    if func is None:
        raise KernelBackendError(
            f"the Triton backend of {name} was requested but is unavailable: {reason}. "
            f"Use backend='reference' (or 'auto'), or set {ENV_VAR}=reference"
        )
    return func(x, *args, **kwargs)


def separable_conv3_reflect(x: Tensor, row_taps: Tensor, col_taps: Tensor, *, backend: str = "auto") -> Tensor:
    """Reflect-pad 1, then separable 3×3 correlation; see :func:`.reference.separable_conv3_reflect`."""
    return _dispatch("separable_conv3_reflect", backend, x, row_taps, col_taps)


def rkr_apply(
    x: Tensor,
    atoms: Tensor,
    gamma: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    *,
    backend: str = "auto",
) -> Tensor:
    """The RKR operator; see :func:`.reference.rkr_apply`."""
    return _dispatch("rkr_apply", backend, x, atoms, gamma, weight, bias)


def rkr_apply_adjoint(
    r: Tensor, atoms: Tensor, gamma: Tensor, weight: Tensor | None = None, *, backend: str = "auto"
) -> Tensor:
    """Adjoint of the linear part of the RKR operator; see :func:`.reference.rkr_apply_adjoint`."""
    return _dispatch("rkr_apply_adjoint", backend, r, atoms, gamma, weight)


def pixel_filter_apply(x: Tensor, filters: Tensor, convolution: bool = False, *, backend: str = "auto") -> Tensor:
    """Per-pixel filters (gather, zero padding); see :func:`.reference.pixel_filter_apply`."""
    return _dispatch("pixel_filter_apply", backend, x, filters, convolution)


def pixel_filter_adjoint(y: Tensor, filters: Tensor, convolution: bool = False, *, backend: str = "auto") -> Tensor:
    """Adjoint of :func:`pixel_filter_apply`; see :func:`.reference.pixel_filter_adjoint`."""
    return _dispatch("pixel_filter_adjoint", backend, y, filters, convolution)

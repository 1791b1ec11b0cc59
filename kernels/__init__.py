"""restorekit.kernels: Triton (CUDA) and Numba (CPU) kernels with PyTorch references and a
dispatcher.

Each public function takes the arguments of its reference in :mod:`.reference` plus a
keyword ``backend``:

* ``"reference"``: the pure-PyTorch reference (any device, any float dtype);
* ``"triton"``: the Triton kernel (``kernels/triton_*.py``); an error if Triton or the
  kernel module is unavailable (set ``TRITON_INTERPRET=1`` to run it on the CPU);
* ``"numba"``: a compiled CPU kernel (``kernels/numba_*.py``), where one exists
  (:func:`pixel_filter_normal`); forward only, float32/float64, no broadcasting of weights;
* ``"auto"`` (default): Triton when the input is on CUDA and the Triton kernel imports;
  on the CPU the Numba kernel when the kernel has one, Numba imports, no gradient is
  needed and the inputs are ones it takes (float32/float64, shapes without broadcasting);
  the reference otherwise. The environment variable ``RESTOREKIT_KERNELS`` sets what
  ``"auto"`` means: ``reference`` forces the reference, ``triton`` forces Triton for every
  kernel, ``numba`` prefers Numba wherever it can run (the reference elsewhere),
  ``auto``/unset is the rule above. An explicit ``backend=`` argument always wins.
  :func:`backends_for` lists what a kernel offers.

The Triton and Numba modules are imported lazily, on the first call that wants them, so
this package works without either installed. This package imports neither the core nor
the plugins.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable

import torch
from torch import Tensor

from . import reference
from .traffic import rkr_macs_per_pixel, rkr_traffic_floats_per_pixel, tile_halo_factor

__all__ = [
    "BACKENDS",
    "KernelBackendError",
    "backends_for",
    "numba_available",
    "numba_enabled",
    "pixel_filter_adjoint",
    "pixel_filter_apply",
    "pixel_filter_normal",
    "resolve_backend",
    "rkr_apply",
    "rkr_apply_adjoint",
    "rkr_macs_per_pixel",
    "rkr_traffic_floats_per_pixel",
    "separable_conv3_reflect",
    "tile_halo_factor",
    "triton_available",
]

BACKENDS = ("auto", "triton", "numba", "reference")
ENV_VAR = "RESTOREKIT_KERNELS"

# public name -> (Triton module, Triton function name)
_TRITON_SOURCES: dict[str, tuple[str, str]] = {
    "separable_conv3_reflect": ("triton_separable", "separable_conv3_reflect_triton"),
    "rkr_apply": ("triton_rkr", "rkr_apply_triton"),
    "rkr_apply_adjoint": ("triton_rkr", "rkr_apply_adjoint_triton"),
    "pixel_filter_apply": ("triton_pixel_filter", "pixel_filter_apply_triton"),
    "pixel_filter_adjoint": ("triton_pixel_filter", "pixel_filter_adjoint_triton"),
    "pixel_filter_normal": ("triton_pixel_filter", "pixel_filter_normal_triton"),
}

# public name -> (Numba module, function name): CPU kernels, forward only
_NUMBA_SOURCES: dict[str, tuple[str, str]] = {
    "pixel_filter_normal": ("numba_pixel_filter", "pixel_filter_normal_numba"),
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


def _load_numba(name: str) -> tuple[Callable[..., Tensor] | None, str]:
    """The Numba implementation of ``name`` and ``""``, or ``None`` and the reason."""
    if name not in _NUMBA_SOURCES:
        return None, f"{name} has no Numba kernel"
    module_name, func_name = _NUMBA_SOURCES[name]
    try:
        module = importlib.import_module(f".{module_name}", __name__)
    except Exception as exc:  # numba missing, or a numba/numpy version mismatch
        return None, f"restorekit.kernels.{module_name} cannot be imported ({type(exc).__name__}: {exc})"
    return getattr(module, func_name), ""


def numba_available(name: str = "pixel_filter_normal") -> bool:
    """True when the Numba CPU kernel for the public function ``name`` can be loaded."""
    return _load_numba(name)[0] is not None


def backends_for(name: str) -> tuple[str, ...]:
    """The backends kernel ``name`` accepts, ``"auto"`` first."""
    if name not in _TRITON_SOURCES:
        raise KernelBackendError(f"unknown kernel {name!r}; one of {sorted(_TRITON_SOURCES)}")
    return ("auto", "triton") + (("numba",) if name in _NUMBA_SOURCES else ()) + ("reference",)


def _needs_grad(tensors: tuple[Any, ...]) -> bool:
    return torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def _pixel_filter_normal_fits(u: Any, filters: Any = None, weights: Any = None, *_: Any) -> bool:
    """The inputs the Numba kernel computes exactly as the reference does: ``u`` ``(B, 1, H, W)``
    float32/float64, filters ``(B|1, n, s², H, W)`` (cast to ``u``'s dtype, as the reference
    does), weights ``None`` or exactly ``(B, n, H, W)`` in ``u``'s dtype (no broadcasting, no
    type promotion)."""
    if not (isinstance(u, Tensor) and u.dim() == 4 and u.shape[1] == 1 and u.dtype in (torch.float32, torch.float64)):
        return False
    if not (isinstance(filters, Tensor) and filters.dim() == 5 and filters.shape[0] in (1, u.shape[0])
            and tuple(filters.shape[-2:]) == tuple(u.shape[-2:]) and filters.is_floating_point()
            and filters.device.type == "cpu"):
        return False
    if weights is None:
        return True
    return (isinstance(weights, Tensor) and weights.dtype == u.dtype and weights.device.type == "cpu"
            and tuple(weights.shape) == (u.shape[0], filters.shape[1], *u.shape[-2:]))


# public name -> which inputs its Numba kernel takes (others go to the reference)
_NUMBA_FITS: dict[str, Callable[..., bool]] = {"pixel_filter_normal": _pixel_filter_normal_fits}


def numba_enabled(*tensors: Any) -> bool:
    """Whether the Numba CPU kernels are to be used on ``tensors``: all on the CPU,
    float32/float64, none needing a gradient, Numba importable and ``RESTOREKIT_KERNELS``
    neither ``reference`` nor ``triton``. (Callers that lay data out for those kernels
    ahead of the products ask this; each product is dispatched by :func:`resolve_backend`.)"""
    env = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    return (env in ("auto", "numba")
            and all(isinstance(t, Tensor) and t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)
                    for t in tensors if t is not None)
            and not _needs_grad(tensors) and numba_available())


def _numba_can_run(name: str, x: Any, others: tuple[Any, ...]) -> bool:
    return (isinstance(x, Tensor) and x.device.type == "cpu" and name in _NUMBA_SOURCES
            and not _needs_grad((x, *others)) and _NUMBA_FITS[name](x, *others) and numba_available(name))


def resolve_backend(name: str, backend: str, x: Tensor, *others: Any) -> str:
    """``"triton"``, ``"numba"`` or ``"reference"``: what a call of kernel ``name`` on ``x``
    and the further arguments ``others`` will run. Numba is chosen (by ``"auto"``, or by
    ``RESTOREKIT_KERNELS=numba``) only where its kernel computes what the reference would:
    on the CPU, without gradients, for the shapes and dtypes it takes."""
    if backend not in BACKENDS:
        raise KernelBackendError(f"unknown kernel backend {backend!r}; use one of {list(BACKENDS)}")
    offered = backends_for(name)
    if backend != "auto":
        if backend not in offered:
            raise KernelBackendError(f"{name} has no {backend!r} backend; use one of {list(offered)}")
        return backend
    env = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if env not in BACKENDS:
        raise KernelBackendError(f"{ENV_VAR}={env!r} is not a kernel backend; use one of {list(BACKENDS)}")
    if env in ("triton", "reference") and env in offered:
        return env
    # env "numba" (or "auto"): Numba only where it can run, the rule below otherwise
    if isinstance(x, Tensor) and x.is_cuda and triton_available(name):
        return "triton"
    if _numba_can_run(name, x, others):
        return "numba"
    return "reference"


def _dispatch(name: str, backend: str, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    chosen = resolve_backend(name, backend, x, *args)
    if chosen == "reference":
        return getattr(reference, name)(x, *args, **kwargs)
    loader, label = (_load_triton, "Triton") if chosen == "triton" else (_load_numba, "Numba")
    func, reason = loader(name)
    if func is None:
        raise KernelBackendError(
            f"the {label} backend of {name} was requested but is unavailable: {reason}. "
            f"Use backend='reference' (or 'auto'), or set {ENV_VAR}=reference"
        )
    if chosen == "numba" and _needs_grad((x, *args)):
        raise KernelBackendError(
            f"the Numba backend of {name} is forward only and an input requires grad; use backend='auto' or 'reference'"
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


def pixel_filter_normal(u: Tensor, filters: Tensor, weights: Tensor | None = None, *, backend: str = "auto") -> Tensor:
    """``Σ_i F_iᵀ (w_i ⊙ F_i u)`` of a per-pixel filter bank; see :func:`.reference.pixel_filter_normal`.

    On the CPU without gradients ``"auto"`` runs the fused Numba kernel
    (:func:`.numba_pixel_filter.pixel_filter_normal_numba`), which reads the taps once.
    """
    return _dispatch("pixel_filter_normal", backend, u, filters, weights)

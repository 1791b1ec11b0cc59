"""Shared plumbing of the Triton kernels: interpreter/JIT choice, argument checks, sizes.

Triton decides at *decoration* time whether a kernel is compiled (``triton.jit`` →
``JITFunction``, CUDA tensors) or run by its NumPy interpreter (``InterpretedFunction``,
CPU tensors; what ``TRITON_INTERPRET=1`` selects). Calls between kernels only work when
caller and callee are of the same kind, so the choice is made once, when these modules are
imported:

* ``TRITON_INTERPRET=1`` in the environment, or no CUDA device visible → interpreter;
* otherwise → compiled.

This keeps every ``kernels/triton_*.py`` module importable on a machine without a GPU
(CI, laptops): the kernels then run, slowly, in the interpreter on CPU tensors, which is
how the tests check them against :mod:`restorekit.kernels.reference`.

This module imports neither the core nor the plugins (package layering rule); bad input
raises :class:`ValueError` with a message naming the fix, like the reference.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = [
    "INTERPRET",
    "acc_dtype",
    "add_combine",
    "check_device",
    "jit",
    "next_pow2",
]


def _interpreter_wanted() -> bool:
    flag = os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")
    return flag or not torch.cuda.is_available()


INTERPRET: bool = _interpreter_wanted()
"""True when the kernels of this package run in Triton's interpreter (CPU tensors)."""


def jit(fn: Callable[..., Any]) -> Any:
    """``triton.jit``, or Triton's interpreter when :data:`INTERPRET` is set (see module doc).

    Equivalent to decorating with ``@triton.jit`` after setting ``TRITON_INTERPRET`` the
    way :data:`INTERPRET` says, but independent of import order of other modules.
    """
    if INTERPRET:
        from triton.runtime.interpreter import InterpretedFunction

        return InterpretedFunction(fn)
    return triton.jit(fn)


@jit
def _add(a, b):
    return a + b


add_combine = getattr(getattr(tl, "standard", None), "_sum_combine", None) or _add
"""``a + b``: the combine function the kernels pass to ``tl.reduce`` for sums.

``tl.sum``/``tl.zeros`` are themselves ``@triton.jit`` functions of Triton's standard
library, decorated in whatever mode was active when Triton was imported, so calling them
breaks the interpreter unless ``TRITON_INTERPRET=1`` was set before ``import triton``. The
kernels therefore use ``tl.reduce(·, axis, add_combine)`` and ``tl.full``. Triton's own
``_sum_combine`` is preferred: compiled, it is an ordinary jit function; interpreted, it is
recognised by identity and reduced with ``np.sum`` (any other combine function makes the
interpreter loop element by element in Python).
"""


def check_device(name: str, *tensors: Tensor | None) -> None:
    """Raise a clear error if a compiled kernel would be fed non-CUDA tensors."""
    if INTERPRET:
        return
    for t in tensors:
        if t is not None and not t.is_cuda:
            raise ValueError(
                f"{name}: the compiled Triton kernel needs CUDA tensors, got a tensor on {t.device}; "
                f"move the inputs to CUDA, use the PyTorch reference (backend='reference'), or set "
                f"TRITON_INTERPRET=1 before importing restorekit.kernels to run Triton's CPU interpreter"
            )


def acc_dtype(dtype: torch.dtype) -> tl.dtype:
    """Accumulation dtype inside the kernels: float64 for float64 inputs, float32 otherwise."""
    if dtype == torch.float64:
        return tl.float64
    if dtype in (torch.float32, torch.float16, torch.bfloat16):
        return tl.float32
    raise ValueError(f"Triton kernels take float16/bfloat16/float32/float64 tensors, got {dtype}; convert with .float()")


def next_pow2(n: int) -> int:
    """Smallest power of two ``>= n`` (Triton block shapes must be powers of two)."""
    return 1 << max(0, int(n) - 1).bit_length()

"""The ``nrknet`` plugin: NRKNet (Quan, Wu, Ji, CVPR 2023) — recursive kernel representation
operator, Γ coefficient estimator, cross-scale Neumann decoder and losses.

Registered through the ``restorekit`` entry point ``nrknet``. Each hook imports the
component modules lazily.
"""

from __future__ import annotations

from restorekit import hookimpl


@hookimpl
def register_operators(register) -> None:
    from .rkr import RecursiveKernelOperator

    register("rkr", RecursiveKernelOperator)

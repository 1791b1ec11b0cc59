"""The built-in ``standard`` plugin: generic losses, operators, a given-kernel estimator,
a small encoder and a residual U-Net decoder.

It is registered through the ``restorekit`` entry point exactly like a third-party plugin
(see ``pyproject.toml``); the hooks below only import its sub-packages, each of which
lists its components in a ``COMPONENTS`` mapping (short name → class).
"""

from __future__ import annotations

from restorekit import hookimpl


def _register_all(register, components) -> None:
    for name, factory in components.items():
        register(name, factory)


@hookimpl
def register_losses(register) -> None:
    from .losses import COMPONENTS

    _register_all(register, COMPONENTS)


@hookimpl
def register_operators(register) -> None:
    from .operators import COMPONENTS

    _register_all(register, COMPONENTS)


@hookimpl
def register_blur_estimators(register) -> None:
    from .given_kernel import GivenKernel

    register("given_kernel", GivenKernel)


@hookimpl
def register_encoders(register) -> None:
    from .networks import ENCODERS

    _register_all(register, ENCODERS)


@hookimpl
def register_decoders(register) -> None:
    from .networks import DECODERS

    _register_all(register, DECODERS)


@hookimpl
def register_datasets(register) -> None:
    from .datasets import DATASETS

    _register_all(register, DATASETS)

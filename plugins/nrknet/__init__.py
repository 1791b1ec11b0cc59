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


@hookimpl
def register_blur_estimators(register) -> None:
    from .coefficients import RKRCoefficientEstimator

    register("coefficients", RKRCoefficientEstimator)


@hookimpl
def register_decoders(register) -> None:
    from .neumann import CrossScaleNeumannDecoder

    register("neumann", CrossScaleNeumannDecoder)


@hookimpl
def register_losses(register) -> None:
    from .prediction_loss import MultiScalePredictionLoss
    from .reblur_loss import ReblurLoss

    register("multiscale", MultiScalePredictionLoss)
    register("reblur", ReblurLoss)

"""The ``nrknet`` plugin: NRKNet (Quan, Wu, Ji, CVPR 2023) — recursive kernel representation
operator, Γ coefficient estimator, cross-scale Neumann decoder and losses.

Registered through the ``restorekit`` entry point ``nrknet``. Each hook imports the
component modules lazily.
"""

from __future__ import annotations

from pathlib import Path

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


WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TINY_WEIGHTS = WEIGHTS_DIR / "nrknet_tiny.safetensors"


@hookimpl
def register_weights(register) -> None:
    """``nrknet.tiny``: the CPU-trained tiny NRKNet (pipelines/nrknet_tiny.yaml; weights/README.md is its card)."""
    if TINY_WEIGHTS.is_file():
        register("tiny", TINY_WEIGHTS)


@hookimpl
def register_pipelines(register) -> None:
    """``nrknet.tiny`` in ``restorekit demo`` (blind defocus; its Γ field is shown as a blur field)."""
    if TINY_WEIGHTS.is_file():
        register("tiny", weights=TINY_WEIGHTS, label="NRKNet tiny", paper="NRKNet", demo=True, order=20,
                 summary="tiny NRKNet (recursive kernels, cross-scale Neumann decoder), CPU-trained on defocus")

"""The ``dramnet`` plugin: DRAMNet ("Depth-initialized Region-Adaptive MAP Network for
Single-Image Deblurring") — Depth-Anything-V2 encoder, Laplacian blur-map estimator,
blur-guided reversible decoder and their losses (specs/dramnet.md; docs/dramnet.md).

Registered through the ``restorekit`` entry point ``dramnet``; each hook imports its
component modules lazily.

=========================  ==============  ==============================================
name                       kind            paper
=========================  ==============  ==============================================
``dramnet.depth_anything`` encoder         Sec. 3.1 (DA-V2 initialisation), Tables 3–4
``dramnet.laplacian_bme``  blur estimator  Sec. 3.1, eq. 1, Fig. 3c
``dramnet.reversible``     decoder         Sec. 3.1, eq. 2 (AdaRevD skeleton)
``dramnet.silog``          loss            eq. 3 (stage 1)
``dramnet.depth_ssim``     loss            eq. 6
``dramnet.blur_map``       loss            eq. 8
``dramnet.exit_classes``   loss            AdaRevD's exit classifier
=========================  ==============  ==============================================
"""

from __future__ import annotations

from pathlib import Path

from restorekit import hookimpl

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TINY_WEIGHTS = WEIGHTS_DIR / "dramnet_tiny.safetensors"


@hookimpl
def register_encoders(register) -> None:
    from .depth_anything import DepthAnythingEncoder

    register("depth_anything", DepthAnythingEncoder)


@hookimpl
def register_blur_estimators(register) -> None:
    from .bme import LaplacianBME

    register("laplacian_bme", LaplacianBME)


@hookimpl
def register_decoders(register) -> None:
    from .decoder import ReversibleDecoder

    register("reversible", ReversibleDecoder)


@hookimpl
def register_losses(register) -> None:
    from .losses import BlurMapLoss, DepthSSIMLoss, ExitClassLoss, SILogLoss

    register("silog", SILogLoss)
    register("depth_ssim", DepthSSIMLoss)
    register("blur_map", BlurMapLoss)
    register("exit_classes", ExitClassLoss)


@hookimpl
def register_weights(register) -> None:
    """``dramnet.tiny``: the CPU-trained tiny DRAMNet (weights/README.md is its card)."""
    if TINY_WEIGHTS.is_file():
        register("tiny", TINY_WEIGHTS)


@hookimpl
def register_pipelines(register) -> None:
    """``dramnet.tiny`` in ``restorekit demo`` (blind; its blur map is shown beside the image)."""
    if TINY_WEIGHTS.is_file():
        register("tiny", weights=TINY_WEIGHTS, label="DRAMNet tiny", paper="DRAMNet", demo=True, order=30,
                 summary="tiny DRAMNet (Depth-Anything ViT, Laplacian BME, reversible decoder), CPU-trained")

"""The ``aibnet`` plugin: AIBNet ("Adaptive Identification of Blurred Regions for Accurate
Image Deblurring") — a frozen pretrained NAFNet encoder and chained SFDH/HFS sub-decoders
trained progressively (specs/aibnet.md).

Registered through the ``restorekit`` entry point ``aibnet``:

* ``aibnet.nafnet_encoder`` (encoder, :mod:`.encoder`);
* ``aibnet.decoder`` (decoder, :mod:`.decoder`; blocks in :mod:`.blocks`).

The losses are the standard plugin's ``standard.charbonnier``, ``standard.edge`` and
``standard.fft_l1``; the pipelines are ``pipelines/aibnet_*.yaml``. Bundled weights:
``aibnet.tiny`` (``weights/aibnet_tiny.safetensors``, card in ``weights/README.md``).
"""

from __future__ import annotations

from pathlib import Path

from restorekit import hookimpl

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TINY_WEIGHTS = WEIGHTS_DIR / "aibnet_tiny.safetensors"
TINY_BLIND_WEIGHTS = WEIGHTS_DIR / "aibnet_tiny_blind.safetensors"


@hookimpl
def register_encoders(register) -> None:
    from .encoder import NAFNetEncoder

    register("nafnet_encoder", NAFNetEncoder)


@hookimpl
def register_decoders(register) -> None:
    from .decoder import AIBNetDecoder

    register("decoder", AIBNetDecoder)


@hookimpl
def register_weights(register) -> None:
    """``aibnet.tiny``: the CPU-trained tiny AIBNet on camera shake (pipelines/aibnet_tiny.yaml;
    weights/README.md is its card); ``aibnet.tiny_blind``: the same network trained on camera
    shake or defocus (pipelines/aibnet_tiny_blind.yaml; weights/aibnet_tiny_blind.md)."""
    if TINY_WEIGHTS.is_file():
        register("tiny", TINY_WEIGHTS)
    if TINY_BLIND_WEIGHTS.is_file():
        register("tiny_blind", TINY_BLIND_WEIGHTS)


@hookimpl
def register_pipelines(register) -> None:
    """``aibnet.tiny`` in ``restorekit demo`` (blind camera shake; ``aibnet.tiny_blind`` is bundled
    for ``restorekit deblur`` but not a demo row: the demo shows each paper's own task)."""
    if TINY_WEIGHTS.is_file():
        register("tiny", weights=TINY_WEIGHTS, label="AIBNet tiny", paper="AIBNet", demo=True, order=40,
                 summary="tiny AIBNet (NAFNet encoder, 2 SFDH/HFS sub-decoders), CPU-trained")

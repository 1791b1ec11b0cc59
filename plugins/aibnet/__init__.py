"""The ``aibnet`` plugin: AIBNet ("Adaptive Identification of Blurred Regions for Accurate
Image Deblurring") — a frozen pretrained NAFNet encoder and chained SFDH/HFS sub-decoders
trained progressively (specs/aibnet.md).

Registered through the ``restorekit`` entry point ``aibnet``:

* ``aibnet.nafnet_encoder`` (encoder, :mod:`.encoder`);
* ``aibnet.decoder`` (decoder, :mod:`.decoder`; blocks in :mod:`.blocks`).

The losses are the standard plugin's ``standard.charbonnier``, ``standard.edge`` and
``standard.fft_l1``; the pipelines are ``pipelines/aibnet_*.yaml``.
"""

from __future__ import annotations

from restorekit import hookimpl


@hookimpl
def register_encoders(register) -> None:
    from .encoder import NAFNetEncoder

    register("nafnet_encoder", NAFNetEncoder)


@hookimpl
def register_decoders(register) -> None:
    from .decoder import AIBNetDecoder

    register("decoder", AIBNetDecoder)

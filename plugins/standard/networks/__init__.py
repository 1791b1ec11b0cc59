"""standard encoders and decoders: short name → class (registered as ``standard.<name>``)."""

from __future__ import annotations

from .chained import ChainedUNet
from .simple_encoder import SimpleEncoder
from .unet import UNet

ENCODERS: dict[str, type] = {"simple_encoder": SimpleEncoder}
DECODERS: dict[str, type] = {"unet": UNet, "chained_unet": ChainedUNet}

__all__ = ["ChainedUNet", "DECODERS", "ENCODERS", "SimpleEncoder", "UNet"]

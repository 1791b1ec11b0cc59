"""standard encoders and decoders: short name → class (registered as ``standard.<name>``)."""

from __future__ import annotations

from .simple_encoder import SimpleEncoder
from .unet import UNet

ENCODERS: dict[str, type] = {"simple_encoder": SimpleEncoder}
DECODERS: dict[str, type] = {"unet": UNet}

__all__ = ["DECODERS", "ENCODERS", "SimpleEncoder", "UNet"]

"""``restorekit.inference``: image I/O, tiled inference, and the ``deblur`` / ``eval`` commands."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "read_image": "imageio",
    "read_image_with_depth": "imageio",
    "write_image": "imageio",
    "IMAGE_SUFFIXES": "imageio",
    "tiled_apply": "tiling",
    "feather_window": "tiling",
    "deblur_image": "deblur",
    "pad_to_multiple": "deblur",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'restorekit.inference' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

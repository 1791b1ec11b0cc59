"""``restorekit.metrics``: PSNR, SSIM and LPIPS under named evaluation protocols.

>>> from restorekit.metrics import compute_metrics
>>> compute_metrics(restored, sharp, protocol="set3c_levin")   # {"psnr": (B,), "ssim": (B,)}

Submodules are imported lazily so that the ``eval:`` config section
(:mod:`restorekit.metrics.settings`) can be registered without importing torch or kornia.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compute_metrics": "compute",
    "prepare": "compute",
    "rgb_to_y_bt601": "compute",
    "psnr": "fidelity",
    "ssim": "fidelity",
    "LPIPS": "lpips",
    "load_lpips": "lpips",
    "Protocol": "protocols",
    "PROTOCOLS": "protocols",
    "KNOWN_METRICS": "protocols",
    "get_protocol": "protocols",
    "register_protocol": "protocols",
    "protocol_from_settings": "protocols",
    "EvalSettings": "settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'restorekit.metrics' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

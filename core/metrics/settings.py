"""The ``eval:`` section of a pipeline YAML (imports nothing heavy; registered by core/config.py).

Example::

    eval:
      protocol: set3c_levin        # a name from restorekit.metrics.PROTOCOLS
      border: 4                    # optional overrides of the protocol's fields
      metrics: [psnr, ssim, lpips]
      lpips_weights: /models/lpips_vgg.pth
      lpips_backbone_weights: /models/vgg16.pth
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import register_section


@dataclass
class EvalSettings:
    """Evaluation settings.

    Attributes:
        protocol: a named protocol (``default``, ``set3c_levin``, ``gopro``, ``realblur``,
            ``dpdd``, ``lfdof``, ``y``; see :mod:`restorekit.metrics.protocols`).
        color, border, data_range, uint8, metrics: override the protocol's fields (``null``
            keeps the protocol's value).
        split: which ``data:`` dataset ``restorekit eval`` runs on (``test``, else ``val``).
        lpips_net: backbone of LPIPS (``vgg`` or ``alex``).
        lpips_weights: local file with the LPIPS linear layers (official ``lin{i}.model.1.weight`` layout).
        lpips_backbone_weights: local torchvision ``vgg16``/``alexnet`` state dict for the backbone.
    """

    protocol: str = "default"
    color: Literal["rgb", "y"] | None = None
    border: int | None = None
    data_range: float | None = None
    uint8: bool | None = None
    metrics: list[str] | None = None
    split: Literal["test", "val"] = "test"
    lpips_net: Literal["vgg", "alex"] = "vgg"
    lpips_weights: str | None = None
    lpips_backbone_weights: str | None = None


register_section("eval", EvalSettings)

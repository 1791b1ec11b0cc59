"""The frozen Depth-Anything-V2 teacher that makes DRAMNet's pseudo-depth labels (paper Sec. 3.2:
"pseudo-labels from a frozen copy of DA-V2 applied to the sharp frames"; spec §5).

Where the teacher lives (our choice): a loss only sees ``(PipelineOutput, batch)``, and the
encoder only sees the blurry image, so the depth losses (``dramnet.silog``,
``dramnet.depth_ssim``) build the teacher themselves from the same ``variant``/``weights`` as
the encoder and apply it to ``batch["sharp"]``. The teacher is

* **shared**: one instance per (variant, weights file, seed) in this process, so both depth
  losses use the same copy;
* **frozen and hidden**: kept outside the module tree (not a sub-module of the loss), so it
  is never in a state dict, a checkpoint, the bundled weights, the optimiser or the EMA
  copy — it is rebuilt from its file (or its seed) instead;
* **reproducible without a file**: with ``weights: null`` it is randomly initialised from
  its own ``seed`` inside ``torch.random.fork_rng`` (the global RNG is untouched), so a
  resumed run gets the identical teacher. Such a teacher carries no depth knowledge; it
  only exercises the schedule (tests, the tiny CPU pipeline).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor

from .depth_anything import DepthAnythingV2, load_official_state_dict, normalise
from .vit import VARIANTS

__all__ = ["FrozenTeacher", "clear_teacher_cache"]

_BASE: dict[tuple, DepthAnythingV2] = {}
_ON_DEVICE: dict[tuple, DepthAnythingV2] = {}


def clear_teacher_cache() -> None:
    """Drop every cached teacher (tests; frees memory)."""
    _BASE.clear()
    _ON_DEVICE.clear()


class FrozenTeacher:
    """A handle on the shared frozen teacher; :meth:`__call__` gives the pseudo-depth.

    Args:
        variant: ``vits`` | ``vitb`` | ``vitl`` | ``tiny`` (as the encoder).
        weights: official Depth-Anything-V2 ``.pth`` (as the encoder), or ``None``.
        seed: initialisation seed when ``weights`` is ``None``.
    """

    def __init__(self, variant: str, weights: str | None, seed: int = 0) -> None:
        if variant not in VARIANTS:
            from restorekit import ConfigError

            raise ConfigError(f"teacher_variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        self.variant = variant
        self.weights = None if weights is None else str(Path(weights).expanduser())
        self.seed = int(seed)
        self.key = (variant, None if weights is None else str(Path(self.weights).resolve()), self.seed if weights is None else None)
        if self.weights is not None and not Path(self.weights).is_file():
            # fail when the pipeline is built, not at the first training step
            from .depth_anything import read_official_file

            read_official_file(self.weights, variant)

    def model(self, device: torch.device, dtype: torch.dtype) -> DepthAnythingV2:
        """The teacher on ``device`` in ``dtype`` (built on first use)."""
        base = _BASE.get(self.key)
        if base is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                base = DepthAnythingV2(VARIANTS[self.variant])
            if self.weights is not None:
                load_official_state_dict(base, self.weights, self.variant)
            base.eval().requires_grad_(False)
            _BASE[self.key] = base
        k = (self.key, str(device), dtype)
        model = _ON_DEVICE.get(k)
        if model is None:
            model = base if (device.type == "cpu" and dtype == torch.float32) else copy.deepcopy(base).to(device=device, dtype=dtype)
            _ON_DEVICE[k] = model
        return model

    @torch.no_grad()
    def __call__(self, sharp: Tensor) -> Tensor:
        """Pseudo-depth (relative inverse depth) ``(B, 1, H, W)`` of the sharp RGB images in [0, 1]."""
        dtype = torch.promote_types(sharp.dtype, torch.float32)
        model = self.model(sharp.device, dtype)
        with torch.autocast(device_type=sharp.device.type, enabled=False):
            return model(normalise(sharp.to(dtype)))

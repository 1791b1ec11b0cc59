"""Running a pipeline on images of any size: reflect-pad to the size multiple, tile, crop back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError

KERNEL_SUM_TOL = 1e-3
"""An array kernel file whose sum differs from 1 by more than this is rejected."""


def pad_to_multiple(image: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad ``(B, C, H, W)`` at the bottom/right to multiples of ``multiple``.

    Reflection needs the pad to be smaller than the side; longer pads (tiny images) fall
    back to edge replication. Returns the padded image and the original ``(H, W)``.
    """
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return image, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(image, (0, pw, 0, ph), mode=mode), (h, w)


def load_psf(path: str | Path, normalize: bool = False) -> Tensor:
    """Read a PSF for ``--kernel`` as a ``(1, 1, h, w)`` float32 tensor summing to 1.

    Array files (``.npy``, ``.npz``, ``.mat``) must already sum to 1 (within
    :data:`KERNEL_SUM_TOL`), since a kernel that does not is usually the wrong file or a
    scaled one; pass ``normalize=True`` (``--normalize-kernel``) to rescale it. Image files
    (``.png``, …) store arbitrary grey levels and are always normalised (our choice).
    Loading, and the checks for negative/NaN/empty kernels, use
    :func:`restorekit.psf.load_kernel`.
    """
    from ..psf import load_kernel

    p = Path(path)
    is_image = p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
    raw = np.asarray(load_kernel(p, normalize=False), dtype=np.float64)
    total = float(raw.sum())
    if not is_image and not normalize and abs(total - 1.0) > KERNEL_SUM_TOL:
        raise InputError(
            f"kernel '{p}' sums to {total:.6g}, not 1; a PSF must sum to 1 (y = k * x preserves brightness). "
            f"Check the file, or pass --normalize-kernel to rescale it"
        )
    if total <= 0:
        raise InputError(f"kernel '{p}' sums to {total:.6g}; a PSF must have positive mass")
    return torch.from_numpy(raw / total).float()[None, None]


@torch.no_grad()
def deblur_image(
    pipeline: Any,
    image: Tensor,
    kernel: Tensor | None = None,
    tile: int | None = None,
    overlap: int = 32,
    device: str | torch.device | None = None,
) -> Tensor:
    """Restore one image batch ``(B, C, H, W)`` of any size.

    Each forward pass sees the input reflect-padded to the pipeline's ``size_multiple``;
    the output is cropped back to ``H × W``. With ``tile``, the image is processed in
    overlapping windows (:func:`restorekit.inference.tiling.tiled_apply`); windows live on
    ``device`` one at a time while the full image stays on the CPU.

    Args:
        pipeline: a :class:`restorekit.Pipeline` (or any callable taking a batch dict and
            returning an object with ``.restored``).
        image: ``(B, C, H, W)`` in [0, 1].
        kernel: optional ``(B|1, 1, h, w)`` PSF put in the batch (non-blind pipelines).
        tile, overlap: window size and overlap in pixels (``tile=None``: whole image).
        device: where the pipeline runs (default: its parameters' device, else CPU).

    Returns:
        ``(B, C', H, W)`` on the CPU.
    """
    from .tiling import tiled_apply

    if device is None:
        params = list(pipeline.parameters()) if hasattr(pipeline, "parameters") else []
        device = params[0].device if params else torch.device("cpu")
    device = torch.device(device)
    multiple = int(getattr(pipeline, "size_multiple", 1) or 1)
    k = kernel.to(device) if kernel is not None else None

    def run(patch: Tensor) -> Tensor:
        padded, (h, w) = pad_to_multiple(patch.to(device), multiple)
        batch: dict[str, Tensor] = {"blurry": padded}
        if k is not None:
            batch["kernel"] = k
        restored = pipeline(batch).restored
        return restored[..., :h, :w].float().cpu()

    was_training = getattr(pipeline, "training", False)
    if hasattr(pipeline, "eval"):
        pipeline.eval()
    try:
        if tile:
            return tiled_apply(run, image.float().cpu(), tile, overlap, multiple)
        return run(image.float())
    finally:
        if was_training and hasattr(pipeline, "train"):
            pipeline.train(True)

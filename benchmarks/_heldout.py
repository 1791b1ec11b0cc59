"""Held-out evaluation shared by the ``*_train_tiny.py`` scripts (imported as ``_heldout`` when a
script is run as ``python benchmarks/NAME.py``).

* :func:`psnr` — float PSNR, peak 1, no border crop;
* :func:`load_rgb` — an RGB image as ``(3, H, W)`` float32 in [0, 1];
* :func:`full_pairs` — the full bundled demo photographs (``bundled:demo``, never used in
  training), each blurred by 2 fixed camera-shake kernels (``motion_bf`` seeds 100/101, path
  10 px, reflect boundary).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor


def psnr(a: Tensor, b: Tensor) -> float:
    return float(-10 * torch.log10(F.mse_loss(a.double(), b.double())))


def load_rgb(path: Path) -> Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def full_pairs() -> list[tuple[str, Tensor, Tensor]]:
    """(name, sharp, blurry) for the full held-out demo photos with the 2 fixed kernels."""
    from restorekit.data.samples import sample_images
    from restorekit.functional import conv2d
    from restorekit.psf import motion_bf

    out = []
    for path in sample_images("demo"):
        sharp = load_rgb(path)
        for seed in (100, 101):
            k = motion_bf(seed=seed, canvas=15, max_len=10.0, fraction=1.0).float()
            blurry = conv2d(sharp[None], k[None, None], boundary="reflect")[0].clamp(0, 1)
            out.append((f"{path.stem}/bf{seed}", sharp, blurry))
    return out

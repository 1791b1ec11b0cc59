"""The demo's inputs: bundled photographs degraded in three ways, all seeded.

* ``nonblind`` — camera shake with a known PSF: a Boracchi–Foi trajectory kernel, applied as a
  true *linear* blur (the ``valid`` part of the convolution of a larger crop, so there is no
  artificial boundary) plus 1 % Gaussian noise. The solvers get the PSF.
* ``motion`` — camera shake, blind: the synthetic-data chain ``motion_bf`` + 0.5 % noise of
  :func:`restorekit.data.synthetic.degrade` (what the bundled blind models were trained on; the
  demo uses paths of 8–12 px, :data:`DEMO_DEGRADATIONS`), the PSF withheld.
* ``defocus`` — spatially varying defocus, blind: ``defocus_depth`` on a random depth field +
  0.5 % noise, the blur withheld.

Every true PSF is saved as ``.npy`` (the array ``restorekit deblur --kernel`` reads), with an
enlarged picture named ``*_psf_preview.png`` that is for looking at only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["BLIND_DEGRADATIONS", "DEMO_DEGRADATIONS", "Scene", "blind_scene", "demo_kernel", "nonblind_scene"]

NOISE_SIGMA = 0.01
"""Noise of the non-blind scenes (1 %, as the DPIR-style benchmarks)."""
BLIND_NOISE_SIGMA = 0.005

MOTION_BLUR: dict[str, Any] = {"type": "motion_bf", "canvas": 15, "max_len": [5.0, 12.0], "fraction": 1.0}
DEFOCUS_BLUR: dict[str, Any] = {
    "type": "defocus_depth", "mode": "layered", "levels": 8, "near": 0.6, "far": 6.0, "focus_distance": 1.5,
    "f_number": 2.0, "focal_length": 0.05, "pixel_pitch": 1.2e-4, "r_max": 5.0,
}
BLIND_DEGRADATIONS: dict[str, list[dict[str, Any]]] = {
    "motion": [MOTION_BLUR, {"type": "noise", "sigma": BLIND_NOISE_SIGMA}],
    "defocus": [DEFOCUS_BLUR, {"type": "noise", "sigma": BLIND_NOISE_SIGMA}],
}
"""The training distributions of the bundled blind models (``restorekit.data`` syntax;
``pipelines/*_tiny.yaml``): camera shake with paths of 5–12 px, thin-lens defocus of radius 0–5 px
on a random depth field, 0.5 % noise. ``benchmarks/bundled_models.py`` measures the bundled
models on held-out Set3C under exactly these."""

DEMO_DEGRADATIONS: dict[str, list[dict[str, Any]]] = {
    "motion": [{**MOTION_BLUR, "max_len": [8.0, 12.0]}, {"type": "noise", "sigma": BLIND_NOISE_SIGMA}],
    "defocus": BLIND_DEGRADATIONS["defocus"],
}
"""What ``restorekit demo`` shows (our choice): the training distributions, but camera shake
with paths of 8–12 px, the upper part of the 5–12 px training range, so that the shake is
plainly visible at 224². Over the whole range the tiny blind models do not beat every input
(DRAMNet tiny loses up to 1.6 dB on some short paths); the held-out table of
``benchmarks/bundled_models.py`` covers the whole range."""


@dataclass
class Scene:
    """One demo input.

    Attributes:
        name: ``<image>_<kind>``.
        image: the bundled photograph's name.
        kind: ``nonblind``, ``motion`` or ``defocus``.
        sharp: ``(1, 3, H, W)`` ground truth.
        blurry: ``(1, 3, H, W)`` observation (noisy, not clipped for ``nonblind``).
        kernel: the PSF ``(1, 1, h, w)`` of uniform scenes (given to non-blind solvers only).
        extras: e.g. the defocus radius map ``(1, 1, H, W)`` of the defocus scene.
    """

    name: str
    image: str
    kind: str
    sharp: Tensor
    blurry: Tensor
    kernel: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)


def demo_kernel(seed: int, max_len: float = 35.0, canvas: int = 41) -> Tensor:
    """A Boracchi–Foi camera-shake PSF cropped to its support, ``(1, 1, h, w)`` float64, sum 1."""
    from ..psf import motion_bf

    k = motion_bf(seed=seed, canvas=canvas, max_len=max_len, fraction=1.0)
    rows = torch.nonzero(k.sum(1) > 0).flatten()
    cols = torch.nonzero(k.sum(0) > 0).flatten()
    k = k[int(rows[0]) : int(rows[-1]) + 1, int(cols[0]) : int(cols[-1]) + 1]
    return (k / k.sum())[None, None]


def nonblind_scene(name: str, sample: Tensor, seed: int) -> Scene:
    """Camera shake with a known PSF on ``sample`` ``(1, 3, S, S)``: ``valid`` blur + noise.

    ``sharp`` is the centre crop that the valid convolution observes, so both are
    ``(1, 3, S − h + 1, S − w + 1)``.
    """
    from ..functional import conv2d

    kernel = demo_kernel(seed)
    kh, kw = kernel.shape[-2:]
    blurry = conv2d(sample.double(), kernel, boundary="valid", method="fft")
    gen = torch.Generator().manual_seed(1000 + seed)
    blurry = blurry + NOISE_SIGMA * torch.randn(blurry.shape, generator=gen, dtype=torch.float64)
    top, left = (kh - 1) // 2, (kw - 1) // 2
    sharp = sample[..., top : top + blurry.shape[-2], left : left + blurry.shape[-1]]
    return Scene(f"{name}_nonblind", name, "nonblind", sharp.float(), blurry.float(), kernel.float())


def blind_scene(name: str, sample: Tensor, kind: str, seed: int,
                degradations: dict[str, list[dict[str, Any]]] | None = None) -> Scene:
    """Blind camera shake (``motion``) or spatially varying defocus (``defocus``) on ``sample``,
    with the chains of ``degradations`` (default :data:`BLIND_DEGRADATIONS`)."""
    from ..data.synthetic import degrade

    chains = BLIND_DEGRADATIONS if degradations is None else degradations
    gen = torch.Generator().manual_seed(2000 + 17 * seed + (0 if kind == "motion" else 1))
    out = degrade(sample[0].float(), chains[kind], gen)
    extras = {}
    if "defocus_radius" in out:
        extras["defocus_radius"] = out["defocus_radius"][None].float()
    kernel = out.get("kernel")
    return Scene(
        f"{name}_{kind}", name, kind, sample.float(), out["blurry"][None].float(),
        kernel[None].float() if kernel is not None else None, extras,
    )


def save_psf(kernel: Tensor, path_stem: Path) -> list[Path]:
    """Write ``<stem>.npy`` (the PSF array, sum 1) and ``<stem>_preview.png`` (display only)."""
    import io

    import numpy as np
    from PIL import Image

    from .figure import atomic_write

    k = kernel[0, 0].double().cpu().numpy()
    buf = io.BytesIO()
    np.save(buf, k)
    npy = path_stem.with_suffix(".npy")
    atomic_write(npy, buf.getvalue())
    arr = (k / k.max() * 255).round().astype("uint8")
    side = 8 * max(arr.shape)
    im = Image.fromarray(arr).resize((side * arr.shape[1] // max(arr.shape), side * arr.shape[0] // max(arr.shape)), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    preview = path_stem.parent / f"{path_stem.name}_preview.png"
    atomic_write(preview, buf.getvalue())
    return [npy, preview]

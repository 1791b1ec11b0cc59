"""Running a pipeline on images of any size: reflect-pad to the size multiple, tile, crop back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, InputError, RestorekitError

KERNEL_SUM_TOL = 1e-3
"""An array kernel file whose sum differs from 1 by more than this is rejected."""

KERNEL_MAX_FRACTION = 0.25
"""``restorekit deblur --kernel`` questions a kernel taller than this fraction of the image's
height or wider than this fraction of its width (:func:`check_kernel_fits`)."""

KERNEL_SIZE_FLOOR = 15
"""Kernels of at most this many pixels on both sides are never questioned for their size (on
images under 60 px, tests and thumbnails, a quarter of the image is a few pixels; display
pictures are larger, and the enlarged ones are caught by their blocks anyway)."""

FORCE_KERNEL_HINT = "pass --force-kernel"

PAD_POSITIONS = ("bottom-right", "center")
"""Where :func:`pad_image` puts the padding: ``bottom-right`` (restorekit's default) or
``center`` (half on each side, as the official NRKNet test loader)."""


def pad_image(image: Tensor, multiple: int, position: str = "bottom-right") -> tuple[Tensor, tuple[int, int, int, int]]:
    """Reflect-pad ``(B, C, H, W)`` so that H and W are multiples of ``multiple``.

    Args:
        position: ``bottom-right`` pads below and to the right; ``center`` pads
            ``⌊d/2⌋`` above/left and ``d − ⌊d/2⌋`` below/right (``d`` the missing rows or
            columns). For even ``d`` this is the official NRKNet test loader's padding
            (``(16⌈h/16⌉ − h)/2`` on each side); for odd ``d`` that loader pads ``d − 1``
            rows, which is not a multiple, so the extra row goes to the bottom (our choice).

    Reflection needs each pad to be smaller than the side; longer pads (tiny images) fall
    back to edge replication. Returns the padded image and ``(top, left, H, W)``, the box of
    the original image inside it.
    """
    if position not in PAD_POSITIONS:
        raise ConfigError(f"pad position must be one of {', '.join(PAD_POSITIONS)}, got {position!r}")
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return image, (0, 0, h, w)
    top, left = (ph // 2, pw // 2) if position == "center" else (0, 0)
    bottom, right = ph - top, pw - left
    mode = "reflect" if max(top, bottom) < h and max(left, right) < w else "replicate"
    return F.pad(image, (left, right, top, bottom), mode=mode), (top, left, h, w)


def pad_to_multiple(image: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad ``(B, C, H, W)`` at the bottom/right to multiples of ``multiple``; returns
    the padded image and the original ``(H, W)`` (see :func:`pad_image` for centred padding)."""
    padded, (_, _, h, w) = pad_image(image, multiple, "bottom-right")
    return padded, (h, w)


def load_psf(path: str | Path, normalize: bool = False, force: bool = False) -> Tensor:
    """Read a PSF for ``--kernel`` as a ``(1, 1, h, w)`` float32 tensor summing to 1.

    Files that look like a display picture of a PSF (a colour picture, a nearest-neighbour
    enlargement, a PSF on a grey or white background: :func:`restorekit.psf.io.picture_problems`)
    are refused, naming the PSF array beside them when there is one, unless ``force``
    (``--force-kernel``).

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
    raw = np.asarray(load_kernel(p, normalize=False, strict=not force, force_hint=FORCE_KERNEL_HINT), dtype=np.float64)
    total = float(raw.sum())
    if not is_image and not normalize and abs(total - 1.0) > KERNEL_SUM_TOL:
        raise InputError(
            f"kernel '{p}' sums to {total:.6g}, not 1; a PSF must sum to 1 (y = k * x preserves brightness). "
            f"Check the file, or pass --normalize-kernel to rescale it"
        )
    if total <= 0:
        raise InputError(f"kernel '{p}' sums to {total:.6g}; a PSF must have positive mass")
    return torch.from_numpy(raw / total).float()[None, None]


def check_kernel_fits(kernel_shape: tuple[int, ...], image_shape: tuple[int, ...], path: str | Path | None = None) -> None:
    """Question a kernel larger than a quarter of the image it deblurs (either side).

    Real blur is small against the photograph (camera shake and defocus of a few to a few
    dozen pixels; the Levin et al. kernels are at most 27 px on 255 px images); a kernel over
    :data:`KERNEL_MAX_FRACTION` of the image's height or width is nearly always a display
    picture or the wrong file, and deblurring with it cannot work. Kernels of at most
    :data:`KERNEL_SIZE_FLOOR` pixels a side pass on any image (our choice, for tiny images).

    Args:
        kernel_shape, image_shape: shapes ending in ``(h, w)`` and ``(H, W)``.
        path: the kernel's file (named in the message; a PSF array beside a picture is suggested).

    Raises:
        InputError: naming both sizes, the limit, and the fixes (the ``.npy`` PSF,
            ``--force-kernel``).
    """
    kh, kw = (int(v) for v in kernel_shape[-2:])
    H, W = (int(v) for v in image_shape[-2:])
    if (kh <= KERNEL_MAX_FRACTION * H and kw <= KERNEL_MAX_FRACTION * W) or max(kh, kw) <= KERNEL_SIZE_FLOOR:
        return
    if kh > H or kw > W:
        return  # deblur_image's own error ("the image is smaller than the kernel") says more
    from ..psf.io import sibling_array

    source = f"kernel '{path}'" if path is not None else "the kernel"
    alt = sibling_array(path) if path is not None and Path(path).suffix.lower() == ".png" else None
    instead = f"pass the PSF array '{alt}' beside it" if alt else "pass the PSF itself (the .npy array, cropped to its support)"
    raise InputError(
        f"{source} is {kh}×{kw}, larger than a quarter of the {H}×{W} image (at most {int(KERNEL_MAX_FRACTION * H)}×"
        f"{int(KERNEL_MAX_FRACTION * W)}); a blur that large is almost always a display picture of the PSF or the wrong "
        f"file. {instead[0].upper() + instead[1:]}, or {FORCE_KERNEL_HINT} to use it anyway"
    )


@torch.no_grad()
def deblur_image(
    pipeline: Any,
    image: Tensor,
    kernel: Tensor | None = None,
    tile: int | None = None,
    overlap: int = 32,
    device: str | torch.device | None = None,
    pad: str = "bottom-right",
    progress: bool | str = False,
) -> Tensor:
    """Restore one image batch ``(B, C, H, W)`` of any size.

    Each forward pass sees the input reflect-padded to the pipeline's ``size_multiple``
    (at the bottom/right, or centred with ``pad="center"``, see :func:`pad_image`); the
    output is cropped back to ``H × W``. With ``tile``, the image is processed in
    overlapping windows (:func:`restorekit.inference.tiling.tiled_apply`), each padded the
    same way; windows live on ``device`` one at a time while the full image stays on the CPU.

    Args:
        pipeline: a :class:`restorekit.Pipeline` (or any callable taking a batch dict and
            returning an object with ``.restored``).
        image: ``(B, C, H, W)`` in [0, 1].
        kernel: optional ``(B|1, 1, h, w)`` PSF put in the batch (non-blind pipelines).
        tile, overlap: window size and overlap in pixels (``tile=None``: whole image).
        device: where the pipeline runs (default: its parameters' device, else CPU).
        pad: ``bottom-right`` (default) or ``center`` (the official NRKNet test).
        progress: show a tqdm bar on stderr while tiling (a string is its label).

    Returns:
        ``(B, C', H, W)`` on the CPU, float32 (float64 for a float64 pipeline).

    Raises:
        InputError: a non-finite input or output (naming the tile), an image or tile smaller
            than the kernel.
    """
    from .tiling import tile_count, tiled_apply

    if pad not in PAD_POSITIONS:
        raise ConfigError(f"--pad must be one of {', '.join(PAD_POSITIONS)}, got {pad!r}")
    params = list(pipeline.parameters()) if hasattr(pipeline, "parameters") else []
    if device is None:
        device = params[0].device if params else torch.device("cpu")
    device = torch.device(device)
    dtype = params[0].dtype if params and params[0].dtype in (torch.float32, torch.float64) else torch.float32
    multiple = int(getattr(pipeline, "size_multiple", 1) or 1)
    if not bool(torch.isfinite(image).all()):
        n = int((~torch.isfinite(image)).sum())
        raise InputError(f"the input image contains {n} NaN or Inf value(s); repair or replace it (restorekit deblur --repair-nonfinite)")
    H, W = image.shape[-2:]
    if kernel is not None:
        kh, kw = kernel.shape[-2:]
        if H < kh or W < kw:
            raise InputError(
                f"the image ({H}×{W}) is smaller than the kernel ({kh}×{kw}); a blur that wide cannot be undone on it — "
                f"use a larger image or a smaller kernel"
            )
        if tile:
            eff = (int(tile) // multiple) * multiple
            if 0 < eff < max(kh, kw) and (H > eff or W > eff):
                raise InputError(
                    f"--tile {tile} is smaller than the kernel ({kh}×{kw}); use --tile of at least {max(kh, kw)} "
                    f"(several times the kernel size works best)"
                )
    k = kernel.to(device) if kernel is not None else None

    def run(patch: Tensor, where: str = "") -> Tensor:
        padded, (top, left, h, w) = pad_image(patch.to(device=device, dtype=dtype), multiple, pad)
        batch: dict[str, Tensor] = {"blurry": padded}
        if k is not None:
            batch["kernel"] = k
        restored = pipeline(batch).restored
        out = restored[..., top : top + h, left : left + w].to(dtype).cpu()
        if not bool(torch.isfinite(out).all()):
            n = int((~torch.isfinite(out)).sum())
            raise InputError(
                f"the pipeline's output contains {n} NaN or Inf value(s){where}; the weights or the input are outside what "
                f"the model handles (check --weights; a diverged or corrupt model gives this)"
            )
        return out

    was_training = getattr(pipeline, "training", False)
    if hasattr(pipeline, "eval"):
        pipeline.eval()
    bar = None
    try:
        if tile:
            n_tiles = tile_count(H, W, tile, overlap, multiple)
            if progress and n_tiles > 1:
                from tqdm.auto import tqdm

                label = progress if isinstance(progress, str) else "deblur"
                bar = tqdm(total=n_tiles, desc=f"{label} ({n_tiles} tiles)", unit="tile", file=sys.stderr, leave=False,
                           dynamic_ncols=True)

            def window(patch: Tensor, y0: int, x0: int) -> Tensor:
                th, tw = patch.shape[-2:]
                where = f" (tile at row {y0}, column {x0}, {th}×{tw}, --tile {tile})" if n_tiles > 1 else ""
                try:
                    out = run(patch, where)
                except RestorekitError as exc:
                    if n_tiles == 1 or "tile at" in str(exc):
                        raise
                    raise type(exc)(f"{exc}{where}") from exc
                if bar is not None:
                    bar.update(1)
                return out

            return tiled_apply(window, image.to(dtype).cpu(), tile, overlap, multiple, with_position=True)
        return run(image.to(dtype))
    finally:
        if bar is not None:
            bar.close()
        if was_training and hasattr(pipeline, "train"):
            pipeline.train(True)

"""Seeded paired augmentation: crop, flips, rot90 — applied identically to every image of a
sample, and to its blur kernel so that ``blurry = kernel ∗ sharp`` still holds.

Why the kernel transforms too: if ``y = k ∗ x`` then flipping both images horizontally gives
``flip(y) = flip(k) ∗ flip(x)``, and rotating both by 90° gives ``rot(y) = rot(k) ∗ rot(x)``
(the kernel is centred, so its centre maps to the centre). Cropping does not change ``k``.

Randomness comes only from the ``torch.Generator`` passed in, never from global state.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU generator determined by ``(seed, epoch, index)`` (mixed with NumPy's SeedSequence,
    so nearby triples give unrelated streams)."""
    state = np.random.SeedSequence([int(seed) % 2**63, int(epoch) % 2**63, int(index) % 2**63]).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0]))


def _randint(gen: torch.Generator, high: int) -> int:
    """Uniform integer in ``[0, high)``."""
    return int(torch.randint(high, (1,), generator=gen).item()) if high > 1 else 0


def crop_box(
    height: int, width: int, crop: int, gen: torch.Generator | None, name: str = "image"
) -> tuple[int, int]:
    """Top-left corner of a ``crop × crop`` window: random with ``gen``, centred without."""
    if crop > height or crop > width:
        raise InputError(
            f"{name} is {height}×{width}, smaller than the crop size {crop}; lower `crop:` "
            f"in the data section or remove the image"
        )
    if gen is None:
        return (height - crop) // 2, (width - crop) // 2
    return _randint(gen, height - crop + 1), _randint(gen, width - crop + 1)


def paired_augment(
    images: dict[str, Tensor],
    gen: torch.Generator | None,
    crop: int | None = None,
    random_crop: bool = True,
    flips: bool = False,
    rot90: bool = False,
    kernel: Tensor | None = None,
    name: str = "image",
) -> tuple[dict[str, Tensor], Tensor | None]:
    """Crop/flip/rotate every ``(C, H, W)`` image in ``images`` the same way.

    Args:
        images: ``{"blurry": (C,H,W), "sharp": (C,H,W), …}``; all must share H and W.
        gen: the sample's generator (``None`` = no randomness: centred crop, no flips).
        crop: square crop size, or ``None``.
        random_crop: random (``True``) or centred (``False``) crop window.
        flips: random horizontal and vertical flips, each with probability 1/2.
        rot90: rotation by a uniformly random multiple of 90°.
        kernel: optional ``(1, h, w)`` PSF, transformed consistently (not cropped).

    Returns:
        the transformed images and kernel.
    """
    sizes = {k: tuple(v.shape[-2:]) for k, v in images.items()}
    if len(set(sizes.values())) > 1:
        raise InputError(f"{name}: the paired images differ in size: {sizes}; they must be pixel-aligned pairs")
    out = dict(images)
    if crop is not None:
        h, w = next(iter(sizes.values()))
        top, left = crop_box(h, w, crop, gen if random_crop else None, name)
        out = {k: v[..., top : top + crop, left : left + crop] for k, v in out.items()}
    if gen is not None and flips:
        if _randint(gen, 2):
            out = {k: v.flip(-1) for k, v in out.items()}
            kernel = kernel.flip(-1) if kernel is not None else None
        if _randint(gen, 2):
            out = {k: v.flip(-2) for k, v in out.items()}
            kernel = kernel.flip(-2) if kernel is not None else None
    if gen is not None and rot90:
        turns = _randint(gen, 4)
        if turns:
            out = {k: torch.rot90(v, turns, dims=(-2, -1)) for k, v in out.items()}
            kernel = torch.rot90(kernel, turns, dims=(-2, -1)) if kernel is not None else None
    return {k: v.contiguous() for k, v in out.items()}, (kernel.contiguous() if kernel is not None else None)

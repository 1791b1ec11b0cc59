"""Shared helpers of the PSF generators: seeding and normalisation."""

from __future__ import annotations

import torch
from torch import Tensor

from restorekit.errors import InputError

Seed = int | torch.Generator | None


def make_generator(seed: Seed) -> torch.Generator:
    """A CPU ``torch.Generator`` from an int seed (or the generator itself).

    ``None`` draws a fresh seed from torch's global generator, so results then follow
    ``torch.manual_seed``.
    """
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def uniform(gen: torch.Generator, *shape: int) -> Tensor:
    """U(0, 1) samples, float64."""
    return torch.rand(shape if shape else (1,), generator=gen, dtype=torch.float64)


def normalized(kernel: Tensor) -> Tensor:
    """``kernel`` (float64, ≥ 0) divided by its sum; a Dirac of the same size if it is all zero."""
    kernel = kernel.to(torch.float64).clamp_min(0)
    total = kernel.sum()
    if total <= 0:
        out = torch.zeros_like(kernel)
        out[kernel.shape[0] // 2, kernel.shape[1] // 2] = 1.0
        return out
    return kernel / total

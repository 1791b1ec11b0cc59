"""Shared helpers for the standard-plugin tests (not a test module)."""

from __future__ import annotations

import torch
from torch import Tensor

from restorekit import BlurEstimate, DecoderOutput, PipelineOutput


def output_of(restored: Tensor, intermediates: list[Tensor] | None = None) -> PipelineOutput:
    """A PipelineOutput holding ``restored`` and ``intermediates`` (default: none)."""
    return PipelineOutput(
        restored=restored,
        decoder=DecoderOutput(restored=restored, intermediates=list(intermediates or [])),
        estimate=BlurEstimate(),
    )


def pair(shape: tuple[int, ...] = (2, 3, 8, 10), seed: int = 0, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Two random tensors of ``shape`` (prediction, sharp)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=dtype), torch.rand(shape, generator=gen, dtype=dtype)

"""Batching samples: stack images, centre-pad kernels of different sizes to a common odd size."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from ..errors import InputError
from .kernel_utils import pad_to


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine dataset samples into a batch.

    * tensors are stacked: ``(C, H, W)`` → ``(B, C, H, W)``;
    * ``kernel`` ``(1, h_i, w_i)`` of different sizes are zero-padded, centred, to a common
      odd size ``(H_k, W_k)`` (the largest, rounded up to odd) → ``(B, 1, H_k, W_k)``; the
      padding keeps each kernel's centre and its sum (1);
    * strings (``name``) and other values become lists.

    Raises:
        InputError: samples with different keys or image sizes.
    """
    if not samples:
        raise InputError("collate: empty list of samples")
    keys = list(samples[0])
    for i, s in enumerate(samples[1:], 1):
        if set(s) != set(keys):
            raise InputError(f"collate: sample {i} has keys {sorted(s)} but sample 0 has {sorted(keys)}")
    batch: dict[str, Any] = {}
    for key in keys:
        values = [s[key] for s in samples]
        if key == "kernel":
            batch[key] = collate_kernels(values)
        elif all(isinstance(v, Tensor) for v in values):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise InputError(
                    f"collate: '{key}' tensors differ in shape {sorted(shapes)}; use `crop:` in the data "
                    f"section (or batch size 1) for images of different sizes"
                )
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch


def collate_kernels(kernels: Sequence[Tensor]) -> Tensor:
    """``[(1, h_i, w_i)]`` → ``(B, 1, H, W)`` with ``H, W`` odd, each kernel centred."""
    ks = [k if k.dim() == 3 else k.reshape(1, *k.shape[-2:]) for k in kernels]
    height = max(k.shape[-2] for k in ks) | 1
    width = max(k.shape[-1] for k in ks) | 1
    return torch.stack([pad_to(k, height, width) for k in ks])

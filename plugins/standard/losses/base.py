"""Shared base of the standard image losses: which predictions a loss compares, at which
scale, with which weights, and in which precision.

Every standard image loss compares a prediction ``(B, C, h, w)`` with the batch's
``sharp`` image ``(B, C, H, W)`` through a per-pair distance ``d(prediction, target)``
(defined by the subclass) and sums over the selected predictions:

    L = Σ_s w_s · d(P_s, resize(X, size(P_s)))

The common options (our choice, shared by all standard image losses):

* ``target: "restored"`` (default) — ``P = [restored]``; ``restored`` must have the sharp
  image's shape.
* ``target: "intermediates"`` — ``P = DecoderOutput.intermediates`` (finest/last first, as
  the decoder returns them). Each entry is compared with the sharp image resized to the
  entry's size (bilinear, ``align_corners=False``, antialias off — NRKNet's "targets are
  downsampled bilinearly", nrknet.md §4). This is the weighted multi-scale loss of NRKNet
  (λ = [1, 0.75, 0.5, 0.25]) and of DRAMNet/AIBNet-style per-sub-decoder supervision.
* ``target: "all"`` — ``P = [restored] + intermediates``.
* ``scale_weights`` — ``w_s``, one per prediction in ``P`` (only with ``intermediates`` or
  ``all``); ``None`` means every ``w_s = 1``. The terms are *summed*, not averaged, as in
  nrknet.md §4 (Σ_t λ_t L_pred).

Precision (our choice): the distance is evaluated with autocast disabled, in float32 for
half/bfloat16 inputs (float64 inputs stay float64), so FFT- and SSIM-based losses are
AMP-safe.
"""

from __future__ import annotations

import abc
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import ConfigError, InputError, Loss, PipelineError, PipelineOutput
from restorekit.interfaces import Batch

Target = Literal["restored", "intermediates", "all"]
"""Which predictions a loss is applied to (see the module docstring)."""

_TARGETS: tuple[str, ...] = get_args(Target)


def loss_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype a loss is computed in: the promoted dtype of ``tensors``, at least float32."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if not dtype.is_floating_point or torch.finfo(dtype).bits < 32:
        return torch.float32
    return dtype


def resize_to(image: Tensor, size: tuple[int, int]) -> Tensor:
    """``image`` ``(B, C, H, W)`` resized to ``size`` = ``(h, w)``: bilinear,
    ``align_corners=False``, no antialiasing; returned unchanged when already that size."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=False)


class ImageLoss(Loss):
    """Base of the standard losses between predictions and ``batch["sharp"]``.

    Subclasses implement :meth:`distance` for one pair of equally shaped tensors.

    Args:
        target: ``"restored"``, ``"intermediates"`` or ``"all"`` (see module docstring).
        scale_weights: one weight per compared prediction (``None``: all 1); only valid
            with ``target`` ``"intermediates"`` or ``"all"``.
    """

    batch_requires = frozenset({"sharp"})

    def __init__(self, target: Target = "restored", scale_weights: list[float] | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if target not in _TARGETS:
            raise ConfigError(f"{name}: target must be one of {', '.join(map(repr, _TARGETS))}, got {target!r}")
        if scale_weights is not None:
            if target == "restored":
                raise ConfigError(
                    f"{name}: scale_weights only apply to several predictions; set target: intermediates "
                    f"(or all), or remove scale_weights"
                )
            if len(scale_weights) == 0:
                raise ConfigError(f"{name}: scale_weights is empty; give one weight per prediction or remove it")
            if any(float(w) < 0 for w in scale_weights):
                raise ConfigError(f"{name}: scale_weights must be non-negative, got {list(scale_weights)}")
        self.target: str = target
        self.scale_weights: list[float] | None = None if scale_weights is None else [float(w) for w in scale_weights]
        self.requires = frozenset({"intermediates"}) if target != "restored" else frozenset()

    # -- to implement ---------------------------------------------------------------------
    @abc.abstractmethod
    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """Scalar distance between ``prediction`` and ``target``, both ``(B, C, h, w)``
        of the same shape and dtype."""

    # -- shared machinery -----------------------------------------------------------------
    def predictions(self, output: PipelineOutput) -> list[Tensor]:
        """The tensors this loss compares with the sharp image, in order."""
        if self.target == "restored":
            return [output.restored]
        inter = list(output.intermediates)
        if not inter:
            raise PipelineError(
                f"{type(self).__name__} has target: {self.target} but the decoder returned no intermediates; "
                f"use target: restored or a decoder that returns intermediates"
            )
        return inter if self.target == "intermediates" else [output.restored, *inter]

    def weights_for(self, count: int) -> list[float]:
        """The per-prediction weights for ``count`` predictions."""
        if self.scale_weights is None:
            return [1.0] * count
        if len(self.scale_weights) != count:
            raise PipelineError(
                f"{type(self).__name__} has {len(self.scale_weights)} scale_weights but target: {self.target} "
                f"gives {count} prediction(s); give exactly {count} weights"
            )
        return self.scale_weights

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        """``L = Σ_s w_s · distance(P_s, resize(sharp, size(P_s)))`` as a scalar."""
        self.check_batch(batch)
        sharp = batch["sharp"]
        if not isinstance(sharp, Tensor) or sharp.dim() != 4:
            shape = tuple(sharp.shape) if isinstance(sharp, Tensor) else type(sharp).__name__
            raise InputError(f"batch['sharp'] must be a (B, C, H, W) tensor, got {shape}")
        preds = self.predictions(output)
        weights = self.weights_for(len(preds))
        total: Tensor | None = None
        with torch.autocast(device_type=sharp.device.type, enabled=False):
            for i, (pred, w) in enumerate(zip(preds, weights)):
                self._check_pair(pred, sharp, i)
                dtype = loss_dtype(pred, sharp)
                tgt = resize_to(sharp.to(dtype), (int(pred.shape[-2]), int(pred.shape[-1])))
                term = w * self.distance(pred.to(dtype), tgt)
                total = term if total is None else total + term
        assert total is not None  # predictions() never returns an empty list
        return total

    def _check_pair(self, pred: Tensor, sharp: Tensor, index: int) -> None:
        what = "restored" if (self.target == "restored" or (self.target == "all" and index == 0)) else (
            f"intermediates[{index - (1 if self.target == 'all' else 0)}]"
        )
        if pred.dim() != 4 or pred.shape[:2] != sharp.shape[:2]:
            raise InputError(
                f"{type(self).__name__}: {what} has shape {tuple(pred.shape)} but batch['sharp'] has "
                f"{tuple(sharp.shape)}; batch size and channels must match"
            )
        if what == "restored" and pred.shape != sharp.shape:
            raise InputError(
                f"{type(self).__name__}: restored has shape {tuple(pred.shape)} but batch['sharp'] has "
                f"{tuple(sharp.shape)}; crop the restored image to the sharp image's size"
            )

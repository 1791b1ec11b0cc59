"""Pixel losses ``standard.l1``, ``standard.mse`` and ``standard.charbonnier``.

All are means over the elements of ``(B, C, h, w)`` tensors; see
:mod:`restorekit.plugins.standard.losses.base` for ``target`` / ``scale_weights``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import ConfigError

from .base import ImageLoss, Target


class L1Loss(ImageLoss):
    """Mean absolute error ``mean |P − X|`` (DRAMNet eq. 5, first term).

    Args:
        target: ``"restored"`` | ``"intermediates"`` | ``"all"`` (see the base module).
        scale_weights: one weight per compared prediction (multi-scale targets only).
    """

    def __init__(self, target: Target = "restored", scale_weights: list[float] | None = None) -> None:
        super().__init__(target=target, scale_weights=scale_weights)

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """``mean |prediction − target|`` over all elements of ``(B, C, h, w)``."""
        return F.l1_loss(prediction, target)


class MSELoss(ImageLoss):
    """Mean squared error ``mean (P − X)²`` (NRKNet's L_pred first term, nrknet.md §4).

    Args:
        target: ``"restored"`` | ``"intermediates"`` | ``"all"`` (see the base module).
        scale_weights: one weight per compared prediction (multi-scale targets only).
    """

    def __init__(self, target: Target = "restored", scale_weights: list[float] | None = None) -> None:
        super().__init__(target=target, scale_weights=scale_weights)

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """``mean (prediction − target)²`` over all elements of ``(B, C, h, w)``."""
        return F.mse_loss(prediction, target)


def charbonnier(difference: Tensor, eps: float) -> Tensor:
    """``mean √(d² + ε²)`` over all elements (AIBNet eq. 6 L_c, MPRNet's CharbonnierLoss).

    Hand-written because ``kornia.losses.charbonnier_loss`` implements Barron's
    ``√(d² + 1) − 1`` with a fixed scale, not this ε-form.
    """
    return torch.sqrt(difference * difference + eps * eps).mean()


class CharbonnierLoss(ImageLoss):
    """Charbonnier loss ``mean √((P − X)² + ε²)`` (AIBNet eq. 6, L_c; ε = 1e-3).

    Note that the value at ``P = X`` is ``ε``, not 0, as in the papers.

    Args:
        eps: ε > 0.
        target: ``"restored"`` | ``"intermediates"`` | ``"all"`` (see the base module).
        scale_weights: one weight per compared prediction (multi-scale targets only).
    """

    def __init__(self, eps: float = 1e-3, target: Target = "restored", scale_weights: list[float] | None = None) -> None:
        super().__init__(target=target, scale_weights=scale_weights)
        if not eps > 0:
            raise ConfigError(f"standard.charbonnier: eps must be > 0, got {eps}")
        self.eps = float(eps)

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """``mean √((prediction − target)² + ε²)`` over all elements."""
        return charbonnier(prediction - target, self.eps)

"""``standard.fft_l1``: L1 distance of the real and imaginary parts of the 2-D spectra."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from restorekit import ConfigError

from .base import ImageLoss, Target


class FFTL1Loss(ImageLoss):
    """Frequency L1 loss (nrknet.md §4, AIBNet eq. 6 L_f):

        FFTL1(P, X) = mean |Re F(P) − Re F(X)| + mean |Im F(P) − Im F(X)|

    with ``F`` the *unnormalised* 2-D DFT over H and W (``norm="backward"``) and the means
    over all spectrum elements ``(B, C, h, w)`` (``(B, C, h, w//2+1)`` for ``rfft2``).

    ``transform: "fft2"`` (default) is the full spectrum, as NRKNet's code
    (``torch.fft.fft2``); ``"rfft2"`` is the half spectrum AIBNet's variant uses
    (aibnet.md §6, "our choice of variant"). Because ``F`` is linear it is evaluated once,
    on ``P − X``. Computed in float32 (or float64) with autocast off — never in half
    precision.

    Args:
        transform: ``"fft2"`` or ``"rfft2"``.
        target: ``"restored"`` | ``"intermediates"`` | ``"all"`` (see the base module).
        scale_weights: one weight per compared prediction (multi-scale targets only).
    """

    def __init__(
        self,
        transform: Literal["fft2", "rfft2"] = "fft2",
        target: Target = "restored",
        scale_weights: list[float] | None = None,
    ) -> None:
        super().__init__(target=target, scale_weights=scale_weights)
        if transform not in ("fft2", "rfft2"):
            raise ConfigError(f"standard.fft_l1: transform must be 'fft2' or 'rfft2', got {transform!r}")
        self.transform: str = transform

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """FFTL1 of two ``(B, C, h, w)`` tensors (a scalar)."""
        fft = torch.fft.rfft2 if self.transform == "rfft2" else torch.fft.fft2
        spectrum = fft(prediction - target, dim=(-2, -1), norm="backward")
        return spectrum.real.abs().mean() + spectrum.imag.abs().mean()

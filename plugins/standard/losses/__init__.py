"""standard.losses components: short name → class (registered as ``standard.<name>``)."""

from __future__ import annotations

from .edge import EdgeLoss, GradientL1Loss
from .frequency import FFTL1Loss
from .perceptual import PerceptualLoss
from .pixel import CharbonnierLoss, L1Loss, MSELoss
from .ssim import SSIMLoss

COMPONENTS: dict[str, type] = {
    "l1": L1Loss,
    "mse": MSELoss,
    "charbonnier": CharbonnierLoss,
    "fft_l1": FFTL1Loss,
    "edge": EdgeLoss,
    "gradient_l1": GradientL1Loss,
    "ssim": SSIMLoss,
    "perceptual": PerceptualLoss,
}

__all__ = [
    "COMPONENTS",
    "CharbonnierLoss",
    "EdgeLoss",
    "FFTL1Loss",
    "GradientL1Loss",
    "L1Loss",
    "MSELoss",
    "SSIMLoss",
]

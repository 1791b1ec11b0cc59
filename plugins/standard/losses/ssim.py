"""``standard.ssim``: the structural-dissimilarity loss ``1 − SSIM``."""

from __future__ import annotations

from typing import Literal

from kornia.metrics import ssim
from torch import Tensor

from restorekit import ConfigError, InputError

from .base import ImageLoss, Target


class SSIMLoss(ImageLoss):
    """``L = 1 − mean SSIM(P, X)`` (NRKNet's SSIM phases, nrknet.md §4).

    SSIM (Wang et al. 2004) with a Gaussian window (σ = 1.5, ``window_size`` taps),
    C1 = (0.01 L)², C2 = (0.03 L)², L = ``max_val``, from ``kornia.metrics.ssim`` with
    ``eps = 0`` (no extra denominator term). The map is averaged over all of
    ``(B, C, h', w')``. ``padding: "same"`` (default, our choice) keeps the full map with
    reflect padding; ``"valid"`` drops ``window_size // 2`` pixels per side and matches
    scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.

    Args:
        window_size: odd number of Gaussian taps (default 11).
        max_val: data range L of the images (1.0 for ``[0, 1]``).
        padding: ``"same"`` or ``"valid"``.
        target: ``"restored"`` | ``"intermediates"`` | ``"all"`` (see the base module).
        scale_weights: one weight per compared prediction (multi-scale targets only).
    """

    def __init__(
        self,
        window_size: int = 11,
        max_val: float = 1.0,
        padding: Literal["same", "valid"] = "same",
        target: Target = "restored",
        scale_weights: list[float] | None = None,
    ) -> None:
        super().__init__(target=target, scale_weights=scale_weights)
        if window_size < 3 or window_size % 2 == 0:
            raise ConfigError(f"standard.ssim: window_size must be odd and ≥ 3, got {window_size}")
        if not max_val > 0:
            raise ConfigError(f"standard.ssim: max_val (the data range) must be > 0, got {max_val}")
        if padding not in ("same", "valid"):
            raise ConfigError(f"standard.ssim: padding must be 'same' or 'valid', got {padding!r}")
        self.window_size = int(window_size)
        self.max_val = float(max_val)
        self.padding: str = padding

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """``1 − mean SSIM`` of two ``(B, C, h, w)`` tensors (a scalar)."""
        h, w = int(prediction.shape[-2]), int(prediction.shape[-1])
        need = self.window_size if self.padding == "valid" else self.window_size // 2 + 1
        if min(h, w) < need:
            raise InputError(
                f"standard.ssim: a {h}×{w} image is too small for window_size {self.window_size} with "
                f"padding '{self.padding}' (needs ≥ {need} pixels per side); use a smaller window_size "
                f"or larger crops"
            )
        value = ssim(prediction, target, self.window_size, max_val=self.max_val, eps=0.0, padding=self.padding)
        return 1.0 - value.mean()

"""Full-reference fidelity metrics, per image: PSNR and SSIM."""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

from ..errors import InputError


def psnr(restored: Tensor, sharp: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR per image: ``10 · log10(peak² / MSE)``, the MSE taken over ``(C, H, W)``.

    Args:
        restored: ``(B, C, H, W)`` or ``(C, H, W)``.
        sharp: same shape as ``restored``.
        data_range: the peak value (1 for images in [0, 1], 255 for 8-bit values).

    Returns:
        ``(B,)`` float64 tensor; ``inf`` where the two images are identical.
    """
    if restored.shape != sharp.shape:
        raise InputError(
            f"psnr: restored {tuple(restored.shape)} and sharp {tuple(sharp.shape)} differ in shape; "
            f"crop or resize one of them to match"
        )
    if restored.dim() == 3:
        restored, sharp = restored[None], sharp[None]
    if restored.dim() != 4:
        raise InputError(f"psnr: expected (B, C, H, W) or (C, H, W), got {tuple(restored.shape)}")
    diff = restored.double() - sharp.double()
    mse = diff.pow(2).flatten(1).mean(dim=1)
    # mse == 0 gives log10(inf) = inf, which is the correct PSNR of identical images.
    return 10.0 * torch.log10(torch.as_tensor(float(data_range) ** 2, dtype=torch.float64, device=mse.device) / mse)


def ssim(
    restored: Tensor,
    sharp: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
) -> Tensor:
    """Mean SSIM per image (Wang et al. 2004, eq. 13), averaged over channels.

    Gaussian window ``window_size`` × ``window_size`` with σ = 1.5 (fixed by kornia), constants
    C1 = (0.01 L)², C2 = (0.03 L)² with L = ``data_range``; the map is averaged over the
    *valid* region only (no padding), as scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` does.

    Args:
        restored: ``(B, C, H, W)`` or ``(C, H, W)``; H and W must be ≥ ``window_size``.
        sharp: same shape.
        data_range: the dynamic range L of the values (1 or 255).

    Returns:
        ``(B,)`` float64 tensor.
    """
    if restored.shape != sharp.shape:
        raise InputError(f"ssim: restored {tuple(restored.shape)} and sharp {tuple(sharp.shape)} differ in shape")
    if restored.dim() == 3:
        restored, sharp = restored[None], sharp[None]
    if restored.dim() != 4:
        raise InputError(f"ssim: expected (B, C, H, W) or (C, H, W), got {tuple(restored.shape)}")
    h, w = restored.shape[-2:]
    if h < window_size or w < window_size:
        raise InputError(f"ssim: the image ({h}×{w}) is smaller than the {window_size}×{window_size} window")
    a, b = restored.double(), sharp.double()
    smap = kornia.metrics.ssim(a, b, window_size, max_val=float(data_range), padding="valid")
    return smap.flatten(1).mean(dim=1)

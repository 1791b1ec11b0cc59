"""``nrknet.multiscale``: NRKNet's multi-scale prediction loss (spec nrknet.md §4, paper eqs. 12–13).

    L_pred = Σ_t λ_t [ MSE(P_t, X_t) + β · FFTL1(P_t, X_t) ]

over the predictions ``P = [Z_0, d_1, d_2, d_3]`` with ``λ = [1, 0.75, 0.5, 0.25]`` and
``β = 0.1``; targets ``X_t`` are the sharp image at full, full, ½ and ¼ scale, downsampled
bilinearly (official ``compute_loss``).
"""

from __future__ import annotations

from typing import Literal

import kornia
import torch
from torch import Tensor

from restorekit import ConfigError, InputError, Loss, PipelineOutput
from restorekit.interfaces import Batch

from .pyramid import bilinear_pyramid

__all__ = ["MultiScalePredictionLoss", "fft_l1", "ssim_phase_active"]


def fft_l1(a: Tensor, b: Tensor) -> Tensor:
    """``mean|Re F(a) − Re F(b)| + mean|Im F(a) − Im F(b)|``, unnormalised 2-D FFT over H, W.

    Hand-written (three lines) rather than importing ``standard.fft_l1`` so that the nrknet
    plugin depends on the core only; it is the official ``FFT_loss``. Computed in float32
    or wider (FFTs stay out of autocast).
    """
    dtype = torch.promote_types(a.dtype, torch.float32)
    fa = torch.fft.fft2(a.to(dtype))
    fb = torch.fft.fft2(b.to(dtype))
    return (fa.real - fb.real).abs().mean() + (fa.imag - fb.imag).abs().mean()


def ssim_phase_active(epoch: int, schedule: str) -> bool:
    """Whether the official code trains with the SSIM loss at ``epoch`` (spec §4).

    * ``"dpdd"``: ``epoch >= 1000 and (epoch % 1000) % 200 > 100``;
    * ``"lfdof"``: the same with every constant divided by 10
      (``epoch >= 100 and (epoch % 100) % 20 > 10``);
    * ``"off"``: never.
    """
    if schedule == "off":
        return False
    if schedule == "dpdd":
        return epoch >= 1000 and (epoch % 1000) % 200 > 100
    if schedule == "lfdof":
        return epoch >= 100 and (epoch % 100) % 20 > 10
    raise ConfigError(f"ssim_phases must be 'off', 'dpdd' or 'lfdof', got {schedule!r}")


class MultiScalePredictionLoss(Loss):
    """Weighted multi-scale MSE + β·FFT-L1 on ``[Z_0, d_1, d_2, d_3]`` (paper eq. 12).

    Needs the decoder's ``intermediates`` ``[d_1 (H), d_2 (H/2), d_3 (H/4)]`` (finest first,
    as ``nrknet.neumann`` returns them) and the batch's ``sharp`` image (B, C, H, W).

    Args:
        scale_weights: λ for ``[Z_0, d_1, d_2, …]`` (paper: ``[1, 0.75, 0.5, 0.25]``).
        fft_weight: β (0.1).
        ssim_phases: the official code's SSIM phases — ``"off"`` (default), ``"dpdd"`` or
            ``"lfdof"``. When the phase is active for the current epoch (see
            :func:`ssim_phase_active`; the engine, or the user, calls :meth:`set_epoch` at
            the start of each epoch), the loss is ``Σ_t λ_t (1 − SSIM(P_t, X_t))`` instead
            (Gaussian window 11, σ = 1.5, valid filtering, data range 1 — as
            ``pytorch_msssim.ssim`` used by the official code; computed with kornia).
            An engine without a per-epoch hook can express the same with two training
            stages that use this loss with ``ssim_phases: off`` and ``standard.ssim``.

    Choices:
        - λ = [1, 0.75, 0.5, 0.25] on [Z_0, d_1, d_2, d_3] and β = 0.1 (paper eq. 12–13).
        - Targets of the coarse scales: the sharp image bilinearly downsampled (the official
          code's ``F.interpolate``; ``bilinear_pyramid``).
        - SSIM phases off by default (our choice: the paper does not mention them; the
          official DPDD/LFDOF scripts use them — ``ssim_phases: dpdd|lfdof``).
    """

    requires = frozenset({"intermediates"})
    batch_requires = frozenset({"sharp"})

    def __init__(
        self,
        scale_weights: list[float] = [1.0, 0.75, 0.5, 0.25],  # noqa: B006 - copied, never mutated
        fft_weight: float = 0.1,
        ssim_phases: Literal["off", "dpdd", "lfdof"] = "off",
    ) -> None:
        super().__init__()
        if not scale_weights:
            raise ConfigError("nrknet.multiscale: scale_weights must list one weight for Z_0 and one per scale")
        if ssim_phases not in ("off", "dpdd", "lfdof"):
            raise ConfigError(f"nrknet.multiscale: ssim_phases must be 'off', 'dpdd' or 'lfdof', got {ssim_phases!r}")
        self.scale_weights = [float(w) for w in scale_weights]
        self.fft_weight = float(fft_weight)
        self.ssim_phases = ssim_phases
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Tell the loss the current (0-based) epoch; only used by ``ssim_phases``."""
        self.epoch = int(epoch)

    def predictions_and_targets(self, output: PipelineOutput, sharp: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """``([Z_0, d_1, d_2, …], [X, X, X↓2, …])`` with bilinear targets."""
        preds = [output.restored, *output.intermediates]
        if len(preds) != len(self.scale_weights):
            raise InputError(
                f"nrknet.multiscale has {len(self.scale_weights)} scale_weights but the decoder gave "
                f"{len(preds)} predictions (restored + {len(output.intermediates)} intermediates); "
                f"give one weight for Z_0 and one per scale"
            )
        if sharp.shape != output.restored.shape:
            raise InputError(f"batch['sharp'] has shape {tuple(sharp.shape)} but the restored image is {tuple(output.restored.shape)}")
        targets = [sharp, *bilinear_pyramid(sharp, len(preds) - 1)]
        return preds, targets

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        preds, targets = self.predictions_and_targets(output, batch["sharp"])
        use_ssim = ssim_phase_active(self.epoch, self.ssim_phases)
        total = preds[0].new_zeros(())
        for w, p, x in zip(self.scale_weights, preds, targets):
            if p.shape != x.shape:
                raise InputError(f"nrknet.multiscale: prediction {tuple(p.shape)} and target {tuple(x.shape)} differ in shape")
            if use_ssim:
                term = 1.0 - kornia.metrics.ssim(p, x, window_size=11, max_val=1.0, padding="valid").mean()
            else:
                term = torch.nn.functional.mse_loss(p, x) + self.fft_weight * fft_l1(p, x)
            total = total + w * term
        return total

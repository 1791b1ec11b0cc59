"""``nrknet.reblur``: the reblur consistency loss of NRKNet (spec nrknet.md §4, paper eq. 14).

    L_reblur = α Σ_{t=1..3} λ_t MSE( D_t(X_t), Y_t )

``X_t`` is the sharp image decimated with *nearest* (as the network input), ``D_t`` the
pipeline's RKR operator with the estimated Γ_t, ``Y_t`` the blurry image downsampled
*bilinearly*, ``λ = [0.75, 0.5, 0.25]`` for full, ½, ¼ scale and ``α = 0.1``. The official
script computes this term but does not add it to the total: ``reblur_weight: 0``
reproduces the released training.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restorekit import ConfigError, InputError, Loss, PipelineOutput
from restorekit.interfaces import Batch

from .pyramid import bilinear_pyramid, nearest_pyramid

__all__ = ["ReblurLoss", "reblurs"]


def reblurs(output: PipelineOutput, sharp: Tensor) -> list[Tensor]:
    """``[D_1(X_1) (H), D_2(X_2) (H/2), D_3(X_3) (H/4)]`` finest first, from a pipeline output."""
    if output.operator is None or output.estimate.coefficients is None:
        raise InputError("nrknet.reblur needs the pipeline's operator and RKR coefficients (nrknet.coefficients + nrknet.rkr)")
    gammas = output.estimate.coefficients
    xs = nearest_pyramid(sharp, len(gammas))
    return [output.operator.A(x, coefficients=g) for x, g in zip(xs, gammas)]


class ReblurLoss(Loss):
    """α · Σ_t λ_t MSE(D_t(X_t), Y_t) (paper eq. 14); needs ``sharp`` and ``blurry`` in the batch.

    Args:
        reblur_weight: α (0.1 = paper, our default; 0 = the released training, which then
            skips the computation and returns 0).
        scale_weights: λ_t, finest first (``[0.75, 0.5, 0.25]``, the weights of d_1, d_2, d_3).

    Choices:
        - α = 0.1 by default (paper eq. 14); the official script computes the term but never
          adds it to the total, so ``reblur_weight: 0`` reproduces the released training.
        - D_t is the pipeline's operator with the scale's Γ_t, applied to the sharp image
          resized to the scale (official code).
    """

    requires = frozenset({"coefficients", "operator"})
    batch_requires = frozenset({"sharp", "blurry"})

    def __init__(
        self,
        reblur_weight: float = 0.1,
        scale_weights: list[float] = [0.75, 0.5, 0.25],  # noqa: B006 - copied, never mutated
    ) -> None:
        super().__init__()
        if reblur_weight < 0:
            raise ConfigError(f"nrknet.reblur: reblur_weight must be >= 0, got {reblur_weight}")
        self.reblur_weight = float(reblur_weight)
        self.scale_weights = [float(w) for w in scale_weights]

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        if self.reblur_weight == 0.0:
            return output.restored.new_zeros(())
        sharp, blurry = batch["sharp"], batch["blurry"]
        gammas = output.estimate.coefficients
        if gammas is not None and len(gammas) != len(self.scale_weights):
            raise InputError(
                f"nrknet.reblur has {len(self.scale_weights)} scale_weights but the estimator gave Γ for "
                f"{len(gammas)} scales; give one weight per scale"
            )
        predicted = reblurs(output, sharp)
        targets = bilinear_pyramid(blurry, len(predicted))
        total = predicted[0].new_zeros(())
        for w, p, y in zip(self.scale_weights, predicted, targets):
            total = total + w * torch.nn.functional.mse_loss(p, y)
        return self.reblur_weight * total

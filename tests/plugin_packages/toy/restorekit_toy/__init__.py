"""A third-party restorekit plugin: a total-variation loss and a scaling decoder."""

from __future__ import annotations

import torch
from torch import Tensor

import restorekit
from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, Loss, Operator, PipelineOutput


class TotalVariationLoss(Loss):
    """Anisotropic total variation of the restored image (mean absolute finite differences)."""

    def __init__(self, eps: float = 0.0) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, output: PipelineOutput, batch) -> Tensor:
        x = output.restored
        return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean() + self.eps


class GainDecoder(Decoder):
    """restored = gain · image with one learnable scalar gain."""

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(float(init)))

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate, operator: Operator | None) -> DecoderOutput:
        return DecoderOutput(restored=self.gain * image)


@restorekit.hookimpl
def register_losses(register) -> None:
    register("tv", TotalVariationLoss)


@restorekit.hookimpl
def register_decoders(register) -> None:
    register("gain", GainDecoder)

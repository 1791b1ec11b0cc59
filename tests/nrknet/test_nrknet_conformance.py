"""The restorekit.testing conformance suite on the nrknet estimator, decoder and prediction loss."""

from __future__ import annotations

import torch

import restorekit
from restorekit import BlurEstimate, DecoderOutput, PipelineOutput
from restorekit.plugins.nrknet.pyramid import bilinear_pyramid
from restorekit.testing.conformance import check_blur_estimator, check_decoder, check_loss


def test_estimator_conformance() -> None:
    image = torch.rand(2, 3, 32, 32)
    for cond in (False, True):
        est = restorekit.create("nrknet.coefficients", num_kernels=2, widths=[4, 8, 8], condition_on_map=cond)
        check_blur_estimator(est, image)


def test_decoder_conformance() -> None:
    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 32)
    est = restorekit.create("nrknet.coefficients", num_kernels=2, widths=[4, 8, 8])
    with torch.no_grad():
        estimate = est(image, None, BlurEstimate(), {})
    op = restorekit.create("nrknet.rkr", num_kernels=2)
    check_decoder(restorekit.create("nrknet.neumann"), image, estimate=estimate, operator=op)


def test_prediction_loss_conformance() -> None:
    def make(r: torch.Tensor) -> PipelineOutput:
        inter = bilinear_pyramid(r, 3)
        return PipelineOutput(restored=r, decoder=DecoderOutput(restored=r, intermediates=inter), estimate=BlurEstimate())

    check_loss(restorekit.create("nrknet.multiscale"), make_output=make, shape=(2, 3, 32, 32))

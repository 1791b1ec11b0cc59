"""The conformance suite must accept correct components and reject broken ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import BlurEstimate, BlurEstimator, Decoder, DecoderOutput, Encoder, Features, Loss, Operator
from restorekit.testing import check_blur_estimator, check_decoder, check_encoder, check_loss, check_operator


class ZeroPadCorrelation(Operator):
    """Correct reference operator: 'same' correlation with zero padding; adjoint = conv_transpose."""

    requires = frozenset({"kernel"})

    def A(self, x: Tensor, kernel: Tensor) -> Tensor:
        c = x.shape[1]
        return F.conv2d(x, kernel.expand(c, 1, -1, -1), padding=kernel.shape[-1] // 2, groups=c)

    def A_adjoint(self, y: Tensor, kernel: Tensor) -> Tensor:
        c = y.shape[1]
        return F.conv_transpose2d(y, kernel.expand(c, 1, -1, -1), padding=kernel.shape[-1] // 2, groups=c)


class WrongAdjoint(ZeroPadCorrelation):
    def A_adjoint(self, y: Tensor, kernel: Tensor) -> Tensor:
        return super().A(y, kernel)  # correlation again instead of its transpose


class Nonlinear(ZeroPadCorrelation):
    def A_linear(self, x: Tensor, kernel: Tensor) -> Tensor:
        return super().A(x, kernel) ** 2


def _kernel() -> Tensor:
    k = torch.rand(1, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    return k / k.sum()


def test_operator_check_accepts_correct_and_rejects_wrong_adjoint():
    res = check_operator(ZeroPadCorrelation(), (2, 3, 9, 11), {"kernel": _kernel()})
    assert res["adjoint_float64"] < 1e-12
    with pytest.raises(AssertionError, match="adjointness"):
        check_operator(WrongAdjoint(), (2, 3, 9, 11), {"kernel": _kernel()})
    with pytest.raises(AssertionError, match="linearity"):
        check_operator(Nonlinear(), (2, 3, 9, 11), {"kernel": _kernel()})
    with pytest.raises(AssertionError, match="requirement"):
        check_operator(ZeroPadCorrelation(), (2, 3, 9, 11), {})


class GoodEncoder(Encoder):
    out_channels = [4, 8]
    out_strides = [1, 2]

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.b = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)

    def forward(self, image: Tensor) -> Features:
        f1 = self.a(image)
        return Features([f1, self.b(f1)], [4, 8], [1, 2])


class LyingEncoder(GoodEncoder):
    out_channels = [4, 16]


def test_encoder_check():
    check_encoder(GoodEncoder(), (2, 3, 16, 16))
    with pytest.raises(AssertionError, match="declared out_channels"):
        check_encoder(LyingEncoder(), (2, 3, 16, 16))


class DeclaresMapButReturnsNothing(BlurEstimator):
    provides = frozenset({"map"})

    def forward(self, image, features, estimate, batch):
        return BlurEstimate()


class GoodMap(BlurEstimator):
    provides = frozenset({"map"})

    def forward(self, image, features, estimate, batch):
        return BlurEstimate(map=image.mean(1, keepdim=True).clamp(0, 1))


def test_blur_estimator_check_enforces_provides():
    check_blur_estimator(GoodMap(), torch.rand(2, 3, 8, 8))
    with pytest.raises(AssertionError, match="declares provides"):
        check_blur_estimator(DeclaresMapButReturnsNothing(), torch.rand(2, 3, 8, 8))


class ScaleDecoder(Decoder):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, image, features, estimate, operator):
        return DecoderOutput(restored=self.w * image)


class CropsDecoder(ScaleDecoder):
    def forward(self, image, features, estimate, operator):
        return DecoderOutput(restored=self.w * image[..., 1:, :])


class UsesUndeclaredKernel(ScaleDecoder):
    def forward(self, image, features, estimate, operator):
        return DecoderOutput(restored=self.w * image * estimate.kernel.sum())


class Noisy(ScaleDecoder):
    def forward(self, image, features, estimate, operator):
        return DecoderOutput(restored=self.w * image + torch.rand_like(image))


def test_decoder_check():
    check_decoder(ScaleDecoder(), torch.rand(2, 3, 8, 8))
    with pytest.raises(AssertionError, match="shape"):
        check_decoder(CropsDecoder(), torch.rand(2, 3, 8, 8))
    with pytest.raises(AttributeError):  # reads a kernel it does not declare: fails on honest inputs
        check_decoder(UsesUndeclaredKernel(), torch.rand(2, 3, 8, 8))
    with pytest.raises(AssertionError, match="deterministic"):
        check_decoder(Noisy(), torch.rand(2, 3, 8, 8))


class L1(Loss):
    batch_requires = frozenset({"sharp"})

    def forward(self, output, batch):
        return (output.restored - batch["sharp"]).abs().mean()


class NotScalar(L1):
    def forward(self, output, batch):
        return (output.restored - batch["sharp"]).abs()


class Offset(L1):
    def forward(self, output, batch):
        return super().forward(output, batch) + 1.0


def test_loss_check():
    check_loss(L1())
    with pytest.raises(AssertionError, match="scalar"):
        check_loss(NotScalar())
    with pytest.raises(AssertionError, match="restored == sharp"):
        check_loss(Offset())


# -- gradcheck: a wrong custom backward is caught --------------------------------------------


class _ScaledBackward(torch.autograd.Function):
    """Identity forward whose backward is wrong by a factor (a typical hand-written bug)."""

    @staticmethod
    def forward(ctx, x: Tensor, factor: float) -> Tensor:
        ctx.factor = factor
        return x.clone()

    @staticmethod
    def backward(ctx, g: Tensor):
        return g * ctx.factor, None


class CustomBackwardCorrelation(ZeroPadCorrelation):
    """Correct forward and adjoint, but A's autograd backward goes through a custom Function."""

    factor = 1.0

    def A(self, x: Tensor, kernel: Tensor) -> Tensor:
        return super().A(_ScaledBackward.apply(x, self.factor), kernel)


class BrokenBackwardCorrelation(CustomBackwardCorrelation):
    factor = 1.5


def test_gradcheck_catches_a_wrong_custom_backward_in_an_operator():
    res = check_operator(CustomBackwardCorrelation(), (1, 2, 7, 8), {"kernel": _kernel()})
    assert res["gradcheck"] == "passed"
    with pytest.raises(AssertionError, match="gradcheck failed for BrokenBackwardCorrelation.A"):
        check_operator(BrokenBackwardCorrelation(), (1, 2, 7, 8), {"kernel": _kernel()})


class BrokenBackwardDecoder(Decoder):
    """restored = conv(image) with a custom backward that drops half of the gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, image, features, estimate, operator):
        return DecoderOutput(restored=self.conv(_ScaledBackward.apply(image, 0.5)))


def test_gradcheck_catches_a_wrong_custom_backward_in_a_decoder_and_honours_stated_opt_outs():
    image = torch.rand(1, 3, 8, 8)
    with pytest.raises(AssertionError, match="gradcheck failed for decoder BrokenBackwardDecoder"):
        check_decoder(BrokenBackwardDecoder(), image)
    check_decoder(BrokenBackwardDecoder(), image, gradcheck="custom backward under repair (test)")
    with pytest.raises(AssertionError, match="stated reason"):
        check_decoder(BrokenBackwardDecoder(), image, gradcheck="  ")
    exempt = BrokenBackwardDecoder()
    exempt.gradcheck_exempt = "documented: piecewise"
    check_decoder(exempt, image)
    exempt.gradcheck_exempt = ""
    with pytest.raises(AssertionError, match="non-empty reason"):
        check_decoder(exempt, image)


def test_gradcheck_covers_parameters_not_only_inputs():
    class ParamOnlyBug(Decoder):
        """Correct gradient w.r.t. the image, wrong w.r.t. the weight (custom Function on the weight)."""

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(0.7))

        def forward(self, image, features, estimate, operator):
            return DecoderOutput(restored=image * _ScaledBackward.apply(self.w, 3.0))

    with pytest.raises(AssertionError, match="gradcheck failed"):
        check_decoder(ParamOnlyBug(), torch.rand(1, 3, 4, 4))

"""Pipeline: building from YAML, provides/requires checks, input checks, composite loss."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import restorekit
from restorekit import (
    BlurEstimate,
    Decoder,
    DecoderOutput,
    InputError,
    Pipeline,
    PipelineError,
)

from ..conftest import ROOT


def _batch(b: int = 2, size: int = 16) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(0)
    k = torch.rand(b, 1, 5, 5, generator=g)
    return {
        "blurry": torch.rand(b, 3, size, size, generator=g),
        "sharp": torch.rand(b, 3, size, size, generator=g),
        "kernel": k / k.sum(dim=(-2, -1), keepdim=True),
    }


def test_shipped_tiny_pipeline_forward_backward():
    pipe = restorekit.load_pipeline(ROOT / "pipelines" / "tiny.yaml")
    batch = _batch()
    out = pipe(batch)
    assert out.restored.shape == batch["blurry"].shape
    assert out.estimate.kernel is not None and torch.allclose(out.estimate.kernel.sum(dim=(-2, -1)), torch.ones(2, 1))
    total, parts = pipe.loss(out, batch)
    assert set(parts) == {"standard.l1", "standard.fft_l1"}
    # the composite is the weighted sum, recomputed independently here
    l1 = (out.restored - batch["sharp"]).abs().mean()
    fa, fb = torch.fft.fft2(out.restored), torch.fft.fft2(batch["sharp"])
    fft_l1 = (fa.real - fb.real).abs().mean() + (fa.imag - fb.imag).abs().mean()
    assert torch.allclose(total, l1 + 0.1 * fft_l1, rtol=1e-5)
    total.backward()
    grads = [p.grad for p in pipe.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), "every trainable parameter gets a gradient"


def test_overrides_reach_components():
    pipe = restorekit.load_pipeline(ROOT / "pipelines" / "tiny.yaml", overrides=["model.decoder.width=4"])
    assert pipe.config["model"]["decoder"]["width"] == 4
    assert pipe.decoder.head.out_channels == 4  # the built decoder really has width 4
    wide = restorekit.load_pipeline(ROOT / "pipelines" / "tiny.yaml")
    assert wide.decoder.head.out_channels == 8


class NeedsKernel(Decoder):
    """Test decoder that needs a kernel."""

    requires = frozenset({"kernel"})

    def forward(self, image, features, estimate, operator):
        return DecoderOutput(restored=image)


class NeedsMapOrCoefficients(Decoder):
    requires = frozenset({"coefficients|map"})

    def forward(self, image, features, estimate, operator):
        return DecoderOutput(restored=image)


def test_missing_requirement_names_piece_and_providers():
    with pytest.raises(PipelineError) as exc:
        Pipeline(decoder=NeedsKernel())
    msg = str(exc.value)
    assert "'kernel'" in msg and "standard.given_kernel" in msg
    with pytest.raises(PipelineError, match="'coefficients' or 'map'"):
        Pipeline(decoder=NeedsMapOrCoefficients())
    # satisfied by an estimator placed before it
    Pipeline(decoder=NeedsKernel(), blur_estimators=[restorekit.create("standard.given_kernel")])


def test_operator_requirements_are_checked_when_decoder_uses_it():
    class UsesOperator(Decoder):
        requires = frozenset({"operator"})

        def forward(self, image, features, estimate, operator):
            return DecoderOutput(restored=operator.bind_estimate(estimate).A(image))

    conv = restorekit.create("standard.convolution")
    with pytest.raises(PipelineError, match="operator .*requires 'kernel'"):
        Pipeline(decoder=UsesOperator(), operator=conv)
    with pytest.raises(PipelineError, match="requires 'operator'"):
        Pipeline(decoder=UsesOperator(), blur_estimators=[restorekit.create("standard.given_kernel")])
    pipe = Pipeline(decoder=UsesOperator(), operator=conv, blur_estimators=[restorekit.create("standard.given_kernel")])
    b = _batch(1, 12)
    b["kernel"] = torch.zeros(1, 1, 3, 3)
    b["kernel"][..., 1, 1] = 1.0  # a Dirac: A is the identity
    assert torch.allclose(pipe(b).restored, b["blurry"], atol=1e-6)


def test_loss_requirements_checked_at_build_and_batch_keys_at_call():
    pipe = Pipeline(decoder=NeedsKernel(), blur_estimators=[restorekit.create("standard.given_kernel")],
                    losses=restorekit.CompositeLoss([restorekit.create("standard.l1")], [1.0], ["l1"]))
    batch = _batch(1, 8)
    del batch["sharp"]
    out = pipe(batch)
    with pytest.raises(KeyError, match="sharp"):
        pipe.loss(out, batch)


def test_input_checks_give_clear_errors():
    pipe = restorekit.load_pipeline(ROOT / "pipelines" / "tiny.yaml")
    b = _batch(1, 16)
    with pytest.raises(InputError, match=r"\(B, C, H, W\)"):
        pipe({**b, "blurry": b["blurry"][0]})
    with pytest.raises(InputError, match="floating-point"):
        pipe({**b, "blurry": (b["blurry"] * 255).to(torch.uint8)})
    with pytest.raises(InputError, match="divisible by 4"):
        pipe({**b, "blurry": b["blurry"][..., :15, :15]})
    with pytest.raises(InputError, match="'blurry'"):
        pipe({"sharp": b["sharp"]})
    with pytest.raises(InputError, match="needs a kernel"):
        pipe({"blurry": b["blurry"]})
    with pytest.raises(InputError, match="negative"):
        pipe({**b, "kernel": -b["kernel"]})


def test_blur_estimates_merge_later_wins():
    a = BlurEstimate(map=torch.zeros(1, 1, 2, 2), extras={"x": 1})
    b = BlurEstimate(map=torch.ones(1, 1, 2, 2), kernel=torch.ones(1, 1, 1, 1), extras={"y": 2})
    m = a.merge(b)
    assert torch.equal(m.map, b.map) and m.kernel is not None and m.extras == {"x": 1, "y": 2}
    assert m.provided() == {"map", "kernel", "x", "y"}

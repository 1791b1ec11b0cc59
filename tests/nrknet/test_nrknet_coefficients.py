"""``nrknet.coefficients``: shapes, options, map conditioning, errors, gradients, devices.

Numerical equivalence with the official network is tested in test_nrknet_convert.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

import restorekit
from restorekit import BlurEstimate, BlurEstimator, InputError, Pipeline, PipelineError
from restorekit.plugins.nrknet.coefficients import RKRCoefficientEstimator
from restorekit.plugins.nrknet.neumann import CrossScaleNeumannDecoder

TINY = [4, 8, 8]


class StandInMap(BlurEstimator):
    """Test estimator: a blur map = mean intensity of the image (B, 1, H/2, W/2)."""

    provides = frozenset({"map"})

    def forward(self, image: Tensor, features: Any, estimate: BlurEstimate, batch: Any) -> BlurEstimate:
        return BlurEstimate(map=image.mean(1, keepdim=True)[..., ::2, ::2])


@pytest.mark.parametrize(("form", "g"), [("reference", 4), ("paper", 3)])
def test_shapes_finest_first(form: str, g: int) -> None:
    est = restorekit.create("nrknet.coefficients", form=form, num_kernels=3, widths=TINY)
    gammas = est(torch.rand(2, 3, 32, 64), None, BlurEstimate(), {}).coefficients
    assert [tuple(t.shape) for t in gammas] == [(2, g, 32, 64), (2, g, 16, 32), (2, g, 8, 16)]
    assert est.size_multiple == 16


def test_gamma_is_signed_and_unnormalised() -> None:
    torch.manual_seed(0)
    est = RKRCoefficientEstimator(num_kernels=3, widths=TINY)
    with torch.no_grad():
        for p in est.parameters():
            p.normal_(0, 0.5)
    gamma = est(torch.rand(1, 3, 32, 32), None, BlurEstimate(), {}).coefficients[0]
    assert gamma.min() < 0 < gamma.max()
    assert not torch.allclose(gamma.sum(1), torch.ones_like(gamma[:, 0]))


def test_coarse_scale_is_processed_first() -> None:
    """Changing pixels absent from the ¼ and ½ pyramid levels leaves Γ_3, Γ_2 unchanged."""
    torch.manual_seed(1)
    est = RKRCoefficientEstimator(num_kernels=2, widths=TINY).eval()
    x = torch.rand(1, 3, 32, 32)
    x2 = x.clone()
    x2[..., 1::4, 1::4] += 0.5  # odd pixels: not in the nearest-decimated ½ and ¼ levels
    g1 = est(x, None, BlurEstimate(), {}).coefficients
    g2 = est(x2, None, BlurEstimate(), {}).coefficients
    torch.testing.assert_close(g1[2], g2[2])
    torch.testing.assert_close(g1[1], g2[1])
    assert not torch.allclose(g1[0], g2[0])


def test_convlstm_state_zero_start_and_bilinear_carry() -> None:
    """Spec §2: (h, c) start as zeros at (H/8, W/8), then are bilinearly upsampled ×2 per scale."""
    torch.manual_seed(4)
    est = RKRCoefficientEstimator(num_kernels=2, widths=TINY).eval()
    calls: list[tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]] = []
    cell = est.APU.conv_atten
    original = cell.forward

    def spy(y: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        out = original(y, state)
        calls.append((state, out))
        return out

    cell.forward = spy  # type: ignore[method-assign]
    est(torch.rand(1, 3, 32, 64), None, BlurEstimate(), {})
    assert len(calls) == 3
    (h0, c0), _ = calls[0]
    assert h0.shape == (1, 3, 4, 8) and not h0.any() and not c0.any()
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
    for before, after in zip(calls[:-1], calls[1:]):
        (h_out, c_out), (h_in, c_in) = before[1], after[0]
        torch.testing.assert_close(h_in, up(h_out))
        torch.testing.assert_close(c_in, up(c_out))


def test_condition_on_map() -> None:
    torch.manual_seed(2)
    est = restorekit.create("nrknet.coefficients", num_kernels=2, widths=TINY, condition_on_map=True)
    assert est.requires == {"map"}
    assert est.feat_extract[0].main[0].in_channels == 4
    op = restorekit.create("nrknet.rkr", num_kernels=2)
    pipe = Pipeline(decoder=CrossScaleNeumannDecoder(), blur_estimators=[StandInMap(), est], operator=op)
    x = torch.rand(1, 3, 32, 32)
    base = pipe({"blurry": x}).estimate.coefficients[0]
    # the map is a real input: changing it (only) changes Γ
    other = est(x, None, BlurEstimate(map=torch.zeros(1, 1, 8, 8)), {}).coefficients[0]
    assert not torch.allclose(base, other)
    with pytest.raises(PipelineError, match="map"):
        Pipeline(decoder=CrossScaleNeumannDecoder(), blur_estimators=[est], operator=op)
    with pytest.raises(InputError, match="condition_on_map"):
        est(x, None, BlurEstimate(), {})


def test_bad_sizes_and_options() -> None:
    est = RKRCoefficientEstimator(num_kernels=2, widths=TINY)
    with pytest.raises(InputError, match="multiples of 16"):
        est(torch.rand(1, 3, 40, 32), None, BlurEstimate(), {})
    with pytest.raises(InputError, match="in_channels"):
        est(torch.rand(1, 1, 32, 32), None, BlurEstimate(), {})
    with pytest.raises(restorekit.ConfigError, match="widths"):
        restorekit.create("nrknet.coefficients", widths=[4, 8])
    with pytest.raises(restorekit.ConfigError, match="form"):
        restorekit.create("nrknet.coefficients", form="papr")


def test_gradients_reach_every_parameter() -> None:
    est = RKRCoefficientEstimator(num_kernels=2, widths=TINY)
    gammas = est(torch.rand(2, 3, 32, 32), None, BlurEstimate(), {}).coefficients
    sum(g.square().mean() for g in gammas).backward()
    missing = [n for n, p in est.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(3)
    pipe = restorekit.load_pipeline(
        {
            "model": {
                "blur_estimator": {"type": "nrknet.coefficients", "num_kernels": 3, "widths": TINY},
                "decoder": {"type": "nrknet.neumann"},
                "operator": {"type": "nrknet.rkr", "num_kernels": 3},
            }
        }
    ).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        cpu = pipe({"blurry": x}).restored
        gpu = pipe.cuda()({"blurry": x.cuda()}).restored.cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)

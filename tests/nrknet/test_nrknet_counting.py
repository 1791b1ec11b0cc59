"""Parameter counts and MACs against the exact numbers of specs/nrknet.md §5–6.

Models are built on the ``meta`` device (full width, no memory, no forward pass on data).
"""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit.plugins.nrknet.counting import count_macs, parameter_breakdown, rkr_macs_per_pixel


def _build(form: str, num_kernels: int):
    with torch.device("meta"):
        est = restorekit.create("nrknet.coefficients", form=form, num_kernels=num_kernels)
        op = restorekit.create("nrknet.rkr", form=form, num_kernels=num_kernels)
    return est, op


@pytest.mark.parametrize(
    ("form", "num_kernels", "total"),
    [("reference", 21, 6_094_107), ("reference", 20, 6_082_810), ("paper", 20, 6_071_476)],
)
def test_total_parameters(form: str, num_kernels: int, total: int) -> None:
    est, op = _build(form, num_kernels)
    assert parameter_breakdown(est, op)["total"] == total
    assert sum(p.numel() for p in est.parameters()) + sum(p.numel() for p in op.parameters()) == total


def test_parts_reference_j21() -> None:
    parts = parameter_breakdown(*_build("reference", 21))
    assert parts == {
        "backbone": 5_891_776,
        "apu_head": 12_716,
        "convlstm": 189_288,
        "atoms": 126,
        "mixing": 201,
        "total": 6_094_107,
    }


def test_backbone_subparts() -> None:
    est, _ = _build("reference", 21)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(est.Encoder) == 1_548_288
    assert n(est.Decoder) == 1_548_288
    assert n(est.bottleneck) == 1_769_472
    assert n(est.feat_extract) == 1_025_728


def test_paper_form_parts() -> None:
    parts = parameter_breakdown(*_build("paper", 20))
    assert parts["atoms"] == 60 and parts["mixing"] == 0


def test_bn_statistics_are_buffers_and_state_dict_has_31_keys() -> None:
    est, op = _build("reference", 21)
    assert len(est.state_dict()) + len(op.state_dict()) == 31
    buffers = dict(est.named_buffers())
    assert set(buffers) == {f"APU.conv.main.1.{k}" for k in ("running_mean", "running_var", "num_batches_tracked")}


def test_rkr_cost_per_pixel() -> None:
    assert rkr_macs_per_pixel("reference", 21) == (378, 198)


def test_macs_at_1280x720() -> None:
    est, _ = _build("reference", 21)
    report = count_macs(est, 1280, 720)
    assert report.conventional == pytest.approx(867.7e9, rel=5e-3)
    assert report.thop_half == pytest.approx(552.7e9, rel=5e-3)
    # RKR recursion: 18·J MAC/pixel/application × 1.6875 full-resolution equivalents (exact)
    assert report.rkr == 18 * 21 * 1280 * 720 * 27 // 16
    assert report.rkr == pytest.approx(0.59e9, rel=5e-3)
    per_scale_g = [round(m / 1e9, 1) for m in report.per_scale_conventional]
    assert per_scale_g == [661.0, 165.3, 41.3]

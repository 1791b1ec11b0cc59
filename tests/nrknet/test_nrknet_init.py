"""The optional identity initialisation of ``nrknet.coefficients`` (``init: identity``) and
the plain-sum mixing :func:`identity_mixing_` (our choice, for short training runs).

Expected values are recomputed here from the documented gate biases (i = 0, f = −6, o = 0,
g = 1) with the ConvLSTM / APU equations of spec nrknet.md §2, and Z_0 from paper eq. 10
with D = Γ_0·I written out by hand — not from the code under test."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import restorekit
from restorekit import ConfigError
from restorekit.plugins.nrknet.coefficients import RKRCoefficientEstimator, identity_mixing_
from restorekit.plugins.nrknet.rkr import RecursiveKernelOperator


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _expected_gamma0() -> list[float]:
    """Γ_0 per scale, finest first: c starts at 0, c ← σ(−6)c + σ(0)tanh(1) per scale
    (coarse → fine), h = σ(0)tanh(c); the BN bias is 1/h_coarsest − 1, Γ_0 = h(1 + bias)."""
    c, hs = 0.0, []
    for _ in range(3):
        c = _sig(-6.0) * c + 0.5 * math.tanh(1.0)
        hs.append(0.5 * math.tanh(c))
    scale = 1.0 / hs[0]  # 1 + BN bias
    return [h * scale for h in hs][::-1]


def _pipeline(form: str, init: str = "identity", num_kernels: int = 4) -> restorekit.Pipeline:
    pipe = restorekit.load_pipeline(
        {
            "model": {
                "blur_estimator": {"type": "nrknet.coefficients", "form": form, "widths": [4, 8, 8], "num_kernels": num_kernels, "init": init},
                "decoder": {"type": "nrknet.neumann", "iterations": [1, 2, 3]},
                "operator": {"type": "nrknet.rkr", "form": form, "num_kernels": num_kernels, "backend": "reference"},
            }
        }
    )
    if init == "identity":
        identity_mixing_(pipe.operator)
    return pipe.double()


def _z0_closed_form(y: torch.Tensor, gamma0: list[float]) -> torch.Tensor:
    """Eq. 10 with D_t = γ_t·I: Y + (1−γ_1)Y + up2((1−γ_2)²Y↓2) + up4((1−γ_3)³Y↓4)."""
    up = lambda x, f: F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)  # noqa: E731
    return (
        y
        + (1 - gamma0[0]) * y
        + up((1 - gamma0[1]) ** 2 * y[..., ::2, ::2], 2)
        + up((1 - gamma0[2]) ** 3 * y[..., ::4, ::4], 4)
    )


@pytest.mark.parametrize("form", ["paper", "reference"])
@pytest.mark.parametrize("train", [True, False])
def test_identity_init_gamma_and_z0(form: str, train: bool) -> None:
    torch.manual_seed(0)
    pipe = _pipeline(form).train(train)
    y = torch.rand(2, 3, 32, 48, dtype=torch.float64)
    with torch.no_grad():
        out = pipe({"blurry": y})
    expected = _expected_gamma0()
    assert expected[2] == pytest.approx(1.0, abs=1e-12)
    tol = 1e-6  # the initial values are float32 parameters (then cast to float64)
    for t, g in enumerate(out.estimate.coefficients):
        assert g.shape == (2, pipe.operator.num_coefficients, 32 // 2**t, 48 // 2**t)
        torch.testing.assert_close(g[:, 0], torch.full_like(g[:, 0], expected[t]), rtol=0, atol=tol)
        assert torch.equal(g[:, 1:], torch.zeros_like(g[:, 1:]))
    torch.testing.assert_close(out.restored, _z0_closed_form(y, expected), rtol=0, atol=tol)
    # so Z_0 ≈ Y at step 0 (the finer scales' Γ_0 are within 0.3 % of 1)
    assert (out.restored - y).abs().max() < 3e-3
    # and D ≈ I on each scale: the reblur of an image is the image itself (up to Γ_0)
    with torch.no_grad():
        d = pipe.operator.A(y, coefficients=out.estimate.coefficients)
    torch.testing.assert_close(d, expected[0] * y, rtol=0, atol=tol)


def test_identity_mixing_matches_plain_sum() -> None:
    op = RecursiveKernelOperator(form="reference", num_kernels=3)
    identity_mixing_(op)
    w = op.mixing.weight.detach()[:, :, 0, 0]
    assert w.shape == (3, 12)
    for o in range(3):
        for k in range(12):
            assert float(w[o, k]) == (1.0 if k % 3 == o else 0.0)
    assert torch.equal(op.mixing.bias, torch.zeros(3))
    # D(Y) = Σ_j Γ_j ⊙ B_j Y: with Γ_0 = 1 only, D = I exactly (float64)
    y = torch.rand(1, 3, 20, 20, dtype=torch.float64)
    gamma = torch.zeros(1, 4, 20, 20, dtype=torch.float64)
    gamma[:, 0] = 1.0
    torch.testing.assert_close(op.double().A(y, coefficients=gamma), y, rtol=0, atol=1e-14)
    identity_mixing_(RecursiveKernelOperator(form="paper", num_kernels=3))  # no mixing: no-op
    with pytest.raises(ConfigError, match="identity_mixing_"):
        identity_mixing_(torch.nn.Conv2d(3, 3, 1))


def test_identity_init_changes_only_the_documented_entries() -> None:
    """Same seed: every tensor equals the default init except the channel-0 gate rows, the
    g-gate rows of channels ≥ 1 and the channel-0 BN affine entries (no RNG is consumed)."""
    torch.manual_seed(3)
    ref = RKRCoefficientEstimator(num_kernels=5, widths=[4, 8, 8])
    torch.manual_seed(3)
    ident = RKRCoefficientEstimator(num_kernels=5, widths=[4, 8, 8], init="identity")
    g = ref.num_coefficients
    sd_ref, sd_id = ref.state_dict(), ident.state_dict()
    assert sd_ref.keys() == sd_id.keys()
    assert sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in ident.parameters())
    changed_rows = {0, g, 2 * g, 3 * g, *range(3 * g + 1, 4 * g)}
    for key in sd_ref:
        a, b = sd_ref[key], sd_id[key]
        if key in ("APU.conv_atten.conv.weight", "APU.conv_atten.conv.bias"):
            keep = [r for r in range(4 * g) if r not in changed_rows]
            assert torch.equal(a[keep], b[keep])
            rows = sorted(changed_rows - {0, g, 2 * g, 3 * g})
            if key.endswith("weight"):
                assert torch.equal(b[sorted(changed_rows)], torch.zeros_like(b[sorted(changed_rows)]))
            else:
                assert b[0] == 0.0 and b[g] == -6.0 and b[2 * g] == 0.0 and b[3 * g] == 1.0
                assert torch.equal(b[rows], torch.zeros(len(rows)))
        elif key in ("APU.conv.main.1.weight", "APU.conv.main.1.bias"):
            assert torch.equal(a[1:], b[1:])
            h = 0.5 * math.tanh(0.5 * math.tanh(1.0))
            assert float(b[0]) == pytest.approx(0.0 if key.endswith("weight") else 1.0 / h - 1.0, abs=1e-6)
        else:
            assert torch.equal(a, b), key


def test_identity_init_official_size_param_count_and_gradients() -> None:
    est = RKRCoefficientEstimator(init="identity")
    assert sum(p.numel() for p in est.parameters()) == 5_891_776 + 12_716 + 189_288  # spec §5, without operator
    # every Γ channel is trainable from the start: the zeroed g-rows get gradients
    torch.manual_seed(0)
    pipe = _pipeline("reference")
    y = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    out = pipe({"blurry": y})
    (out.restored - y.flip(-1)).square().mean().backward()
    gw = pipe.blur_estimators[0].APU.conv_atten.conv.weight.grad
    g = pipe.operator.num_coefficients
    assert gw[3 * g + 1 : 4 * g].abs().sum(dim=(1, 2, 3)).min() > 0
    assert pipe.operator.mixing.weight.grad.abs().sum() > 0


def test_init_option_is_checked() -> None:
    with pytest.raises(ConfigError, match="init must be"):
        RKRCoefficientEstimator(num_kernels=3, widths=[4, 8, 8], init="kaiming")  # type: ignore[arg-type]

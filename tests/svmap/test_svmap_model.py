"""SVMAP (``svmap.irls``) and SIMAP (``svmap.simap``): parameter counts from the spec,
per-pixel filter adjointness against a brute-force loop, symmetry of the IRLS normal
equations, end-to-end differentiability (finite differences) and a short training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import restorekit
from restorekit import BlurEstimate
from restorekit.plugins.svmap.filters_net import FilterBank, table5_parameters, zero_mean_taps
from restorekit.plugins.svmap.physics import bind_physics
from restorekit.plugins.svmap.simap import SIMAP, simap_parameters
from restorekit.plugins.svmap.svmap_irls import PAPER_PARAMETERS, SVMAP, svmap_parameters
from restorekit.testing import check_decoder
from tests.conftest import ROOT

TINY = dict(width=4, layers=1, data_filter_size=3, reg_filter_size=3, cg_iterations=4)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_spec() -> None:
    assert table5_parameters(1, 363) == 357_803
    assert table5_parameters(1, 245) == 289_717
    for c, k in ((1, 363), (3, 3), (5, 5), (2, 17)):
        assert table5_parameters(c, k) == 576 * c + 147_776 + 577 * k
    sv, si = SVMAP(), SIMAP()
    assert _count(sv) == svmap_parameters() == 1_295_040
    assert _count(si) == simap_parameters() == 1_904_592
    assert abs(_count(sv) / PAPER_PARAMETERS["svmap"] - 1) < 0.005  # +0.39 %
    assert abs(_count(si) / PAPER_PARAMETERS["simap"] - 1) < 0.01  # −0.80 %
    shared = SVMAP(share_across_iterations=True)
    assert _count(shared) == svmap_parameters(share=True) == 1_295_040 // 2


def _brute_filter(u: np.ndarray, f: np.ndarray, s: int) -> np.ndarray:
    """(F u)_p = Σ_q f_p(q) u(p + q − c), zero outside, for u (H, W), f (s², H, W)."""
    H, W = u.shape
    c = s // 2
    out = np.zeros((H, W))
    for i in range(H):
        for j in range(W):
            for a in range(s):
                for b in range(s):
                    ii, jj = i + a - c, j + b - c
                    if 0 <= ii < H and 0 <= jj < W:
                        out[i, j] += f[a * s + b, i, j] * u[ii, jj]
    return out


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_filter_bank_matches_brute_force_and_is_adjoint(dtype: torch.dtype, tol: float) -> None:
    gen = torch.Generator().manual_seed(0)
    n, s, H, W = 2, 3, 6, 7
    f = torch.randn(1, n * s * s, H, W, generator=gen, dtype=dtype)
    u = torch.randn(1, 1, H, W, generator=gen, dtype=dtype)
    bank = FilterBank(f, n, (H, W))
    out = bank(u)
    for i in range(n):
        ref = _brute_filter(u[0, 0].double().numpy(), f[0, i * s * s:(i + 1) * s * s].double().numpy(), s)
        np.testing.assert_allclose(out[0, i].double().numpy(), ref, atol=100 * tol)
    v = torch.randn(1, n, H, W, generator=gen, dtype=dtype)
    rel = ((out * v).sum() - (u * bank.adjoint(v)).sum()).abs() / (out.norm() * v.norm())
    assert float(rel) < tol
    # uniform filters (SIMAP) broadcast over the image
    g = torch.randn(1, n * s * s, 1, 1, generator=gen, dtype=dtype)
    uni = FilterBank(g, n, (H, W))(u)
    ref = _brute_filter(u[0, 0].double().numpy(), g[0, :s * s].expand(-1, H, W).double().numpy(), s)
    np.testing.assert_allclose(uni[0, 0].double().numpy(), ref, atol=100 * tol)


def test_regulariser_filters_are_zero_mean_per_pixel() -> None:
    g = zero_mean_taps(torch.randn(2, 5 * 49, 4, 4, dtype=torch.float64), 5)
    assert float(g.reshape(2, 5, 49, 4, 4).sum(dim=2).abs().max()) < 1e-12


@pytest.mark.parametrize("cls", [SVMAP, SIMAP])
def test_normal_equations_are_symmetric_positive(cls) -> None:
    torch.manual_seed(0)
    model = cls(width=4, layers=1).double()
    for p in model.parameters():  # non-trivial predicted filters
        torch.nn.init.normal_(p, std=0.3)
    H, W = 10, 9
    y = torch.rand(2, 1, H, W, dtype=torch.float64)
    k = torch.rand(2, 1, 5, 3, dtype=torch.float64)
    k = k / k.sum(dim=(-2, -1), keepdim=True)
    phys = bind_physics(None, BlurEstimate(kernel=k), y, torch.float64, "test")
    x = torch.rand(2, 1, *phys.domain_size, dtype=torch.float64)
    with torch.no_grad():
        apply_A, b = model.system(0, x, y, phys)
        u, v = torch.randn_like(x), torch.randn_like(x)
        Au, Av = apply_A(u), apply_A(v)
        lhs, rhs = (Au * v).sum(), (u * Av).sum()
        assert float((lhs - rhs).abs() / (Au.norm() * v.norm())) < 1e-10
        assert float((Au * u).sum()) > 0
        assert b.shape == x.shape


@pytest.mark.parametrize("cls", [SVMAP, SIMAP])
def test_gradients_match_finite_differences(cls) -> None:
    torch.manual_seed(1)
    model = cls(iterations=1, **TINY).double()
    y = torch.rand(1, 1, 7, 7, dtype=torch.float64, requires_grad=True)
    k = torch.rand(1, 1, 3, 3, dtype=torch.float64)
    k = k / k.sum()

    def fn(inp: torch.Tensor) -> torch.Tensor:
        return model(inp, None, BlurEstimate(kernel=k), None).restored

    assert torch.autograd.gradcheck(fn, (y,), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["svmap.irls", "svmap.simap"])
def test_decoder_conformance(name: str) -> None:
    decoder = restorekit.create(name, **TINY)
    out = check_decoder(decoder, torch.rand(2, 3, 16, 16))
    assert len(out.intermediates) == 2


@pytest.mark.parametrize("name", ["svmap", "simap"])
def test_pipeline_yaml(name: str) -> None:
    overrides = [f"model.decoder.{k}={v}" for k, v in TINY.items()]
    pipe = restorekit.load_pipeline(ROOT / "pipelines" / f"{name}.yaml", overrides=overrides)
    out = pipe({"blurry": torch.rand(1, 3, 20, 20), "kernel": torch.ones(1, 1, 5, 5)})
    assert out.restored.shape == (1, 3, 20, 20)
    full = restorekit.load_pipeline(ROOT / "pipelines" / f"{name}.yaml")
    assert _count(full) == {"svmap": 1_295_040, "simap": 1_904_592}[name]


def test_untrained_svmap_with_identity_filters_is_a_least_squares_solve() -> None:
    """With zero net outputs the data filters are Dirac and the regulariser vanishes, so
    one iteration is CG on (M KᵀK + εI) x = M Kᵀ y; compare with numpy.linalg.solve."""
    torch.manual_seed(0)
    model = SVMAP(iterations=1, width=4, layers=1, data_filter_size=3, reg_filter_size=3, cg_iterations=200,
                  epsilon=1e-2).double()
    for net in (*model.data_nets, *model.reg_nets):
        torch.nn.init.zeros_(net[-1].weight)
        torch.nn.init.zeros_(net[-1].bias)
    H, W = 6, 6
    k = np.array([[0.1, 0.2], [0.3, 0.4]])
    y = np.random.default_rng(0).random((H, W))
    out = model(torch.from_numpy(y)[None, None], None, BlurEstimate(kernel=torch.from_numpy(k)[None, None]), None)
    # dense K of the valid convolution on the 7×7 enlarged domain
    from scipy.signal import convolve2d

    n = (H + 1) * (W + 1)
    Kd = np.stack([convolve2d(np.eye(n)[i].reshape(H + 1, W + 1), k, mode="valid").reshape(-1) for i in range(n)], axis=1)
    x_ref = np.linalg.solve(3 * Kd.T @ Kd + 1e-2 * np.eye(n), 3 * Kd.T @ y.reshape(-1)).reshape(H + 1, W + 1)
    # a 2×2 kernel has free-boundary margins (top, bottom, left, right) = (0, 1, 0, 1)
    np.testing.assert_allclose(out.restored[0, 0].detach().numpy(), x_ref[:H, :W], atol=1e-8)


@pytest.mark.slow
def test_short_training_lowers_the_loss() -> None:
    """A few Adam steps on fixed synthetic pairs reduce the L1 error (learning works)."""
    torch.manual_seed(0)
    from restorekit.functional import conv2d
    from restorekit.psf import motion_bf

    model = SVMAP(iterations=1, width=8, layers=2, data_filter_size=3, reg_filter_size=3, cg_iterations=10)
    sharp = torch.rand(4, 1, 24, 24)
    sharp = torch.nn.functional.avg_pool2d(sharp, 3, 1, 1)  # some structure
    k = motion_bf(seed=3, canvas=9, max_len=8, fraction=1.0)[None, None].float()
    blurry = conv2d(sharp, k, boundary="reflect") + 0.01 * torch.randn(4, 1, 24, 24)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        out = model(blurry, None, BlurEstimate(kernel=k), None).restored
        loss = (out - sharp).abs()[..., 4:-4, 4:-4].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert min(losses[-5:]) < 0.9 * losses[0], losses

"""Training through the svmap solvers: autograd paths equal the in-place no-grad paths,
gradients match finite differences (float64), and the per-pixel filter bank's hand-written
backward is exact."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import BlurEstimate
from restorekit.plugins.svmap.filters_net import FilterBank
from restorekit.plugins.svmap.shrinkage import hyper_laplacian_shrink, shrink_derivative


def _inputs(C: int = 2, H: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(1, C, H, H, generator=gen, dtype=torch.float64)
    k = torch.rand(1, 1, 3, 3, generator=gen, dtype=torch.float64)
    return y, k / k.sum()


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8, 1.0])
def test_shrinkage_gradient_matches_finite_differences(alpha: float) -> None:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(200, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: hyper_laplacian_shrink(t, 3.0, alpha), (v,))
    with torch.no_grad():
        w = hyper_laplacian_shrink(v, 3.0, alpha)
    assert not w.requires_grad
    d = shrink_derivative(w, 3.0, alpha)
    # ds/du = β / (β + α(α−1)s^{α−2}) ≥ 1 for α ≤ 1 (the shrinkage relaxes towards w = v), 0 below the threshold
    assert bool((d[w != 0] >= 1 - 1e-12).all()) and bool((d[w == 0] == 0).all())


@pytest.mark.parametrize("x_step", ["fft", "cg"])
def test_hqs_autograd_path_equals_the_in_place_path(x_step: str) -> None:
    y, k = _inputs()
    dec = restorekit.create("svmap.hqs", precision="float64", x_step=x_step, padding="replicate")
    op = None if x_step == "fft" else restorekit.create("standard.convolution", boundary="valid")
    with torch.no_grad():
        ref = dec(y, None, BlurEstimate(kernel=k), op).restored
    out = dec(y.clone().requires_grad_(True), None, BlurEstimate(kernel=k), op).restored
    assert out.requires_grad
    assert float((out.detach() - ref).abs().max()) < 1e-12


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0])
def test_hqs_fft_gradients_match_finite_differences(alpha: float) -> None:
    y, k = _inputs()
    y.requires_grad_(True)
    k.requires_grad_(True)
    dec = restorekit.create("svmap.hqs", precision="float64", alpha=alpha, padding="replicate")
    fn = lambda a, b: dec(a, None, BlurEstimate(kernel=b), None).restored  # noqa: E731
    assert torch.autograd.gradcheck(fn, (y, k), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_hqs_cg_gradients_match_finite_differences() -> None:
    y, k = _inputs(C=1, H=8)
    y.requires_grad_(True)
    k.requires_grad_(True)
    op = restorekit.create("standard.convolution", boundary="valid")
    dec = restorekit.create("svmap.hqs", precision="float64", cg_rtol=0.0, cg_iterations=8)
    fn = lambda a, b: dec(a, None, BlurEstimate(kernel=b), op).restored  # noqa: E731
    assert dec(y, None, BlurEstimate(kernel=k), op).extras["x_step"] == "cg"
    assert torch.autograd.gradcheck(fn, (y, k), eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_hqs_pipeline_trains_a_kernel_through_the_solver() -> None:
    """A learnable kernel upstream of svmap.hqs receives a finite, non-zero gradient."""
    y, k = _inputs(C=3, H=16)
    logits = torch.zeros(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    dec = restorekit.create("svmap.hqs", clamp=True)
    kernel = torch.softmax((logits + k.log()).flatten(), 0).reshape(1, 1, 3, 3)
    out = dec(y.float(), None, BlurEstimate(kernel=kernel.float()), None).restored
    (out - y.float()).square().mean().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and float(logits.grad.abs().sum()) > 0


@pytest.mark.parametrize("uniform", [False, True])
def test_filter_bank_backward_is_exact(uniform: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    n, s, H, W = 2, 3, 6, 7
    shape = (2, n * s * s, 1, 1) if uniform else (2, n * s * s, H, W)
    f = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
    u = torch.randn(2, 1, H, W, generator=gen, dtype=torch.float64, requires_grad=True)
    r = torch.randn(2, n, H, W, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.rand(2, n, H, W, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: FilterBank(b, n, (H, W))(a), (u, f))
    assert torch.autograd.gradcheck(lambda a, b: FilterBank(b, n, (H, W)).adjoint(a), (r, f))
    assert torch.autograd.gradcheck(lambda a, b, c: FilterBank(b, n, (H, W)).normal(a, c), (u, f, w))

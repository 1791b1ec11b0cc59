"""The svmap solvers over any operator: the CG normal matrices stay symmetric for every
operator they are used with, spatially varying blur (nrknet.rkr) and per-pixel blur
(standard.spatially_variant_filter) are solved on held-out natural images, HQS picks its
x-step from the operator, and SVMAP's optional blur-map input.

References are independent of the code under test: inner products (symmetry), the FFT
solver for the CG x-step, brute-force per-pixel blurs built with numpy, the bundled
held-out photographs (not Set3C) and exact parameter-count formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import restorekit
from restorekit import BlurEstimate, BlurEstimator, PipelineError
from restorekit.data.samples import sample_images
from restorekit.plugins.svmap.hqs import HQSNormalOperator
from restorekit.plugins.svmap.levin_irls import LevinNormalOperator, derivative_filters, irls_weights
from restorekit.plugins.svmap.physics import bind_physics
from restorekit.plugins.svmap.simap import SIMAP, simap_parameters
from restorekit.plugins.svmap.svmap_irls import SVMAP, svmap_parameters
from restorekit.testing import check_decoder

TINY = dict(width=4, layers=1, data_filter_size=3, reg_filter_size=3, cg_iterations=4)
OPERATORS = ["convolution_valid", "convolution_circular", "convolution_reflect", "rkr_reference", "rkr_paper",
             "spatially_variant_filter"]


def _rkr(form: str, J: int, dtype=torch.float64, seed: int = 0) -> restorekit.Operator:
    torch.manual_seed(seed)
    op = restorekit.create("nrknet.rkr", form=form, num_kernels=J, channels=3).to(dtype)
    if form == "reference":
        with torch.no_grad():
            op.mixing.weight.normal_(0.0, 0.3)
            op.mixing.bias.normal_(0.0, 0.1)
    return op


def _operator_case(name: str, shape: tuple[int, int, int, int], seed: int = 0):
    """``(operator or None, estimate)`` for one operator family, float64."""
    gen = torch.Generator().manual_seed(seed)
    B, C, H, W = shape
    k = torch.rand(1, 1, 5, 4, generator=gen, dtype=torch.float64)
    k = k / k.sum()
    if name == "convolution_valid":
        return None, BlurEstimate(kernel=k)
    if name.startswith("convolution_"):
        return restorekit.create("standard.convolution", boundary=name.split("_")[1]), BlurEstimate(kernel=k)
    if name.startswith("rkr_"):
        form = name.split("_")[1]
        op = _rkr(form, 3, seed=seed)
        gamma = torch.rand(B, op.num_coefficients, H, W, generator=gen, dtype=torch.float64)
        return op, BlurEstimate(coefficients=[gamma])
    if name == "spatially_variant_filter":
        f = torch.rand(B, C, 9, H, W, generator=gen, dtype=torch.float64)
        return restorekit.create("standard.spatially_variant_filter"), BlurEstimate(extras={"filters": f / f.sum(2, keepdim=True)})
    raise KeyError(name)


def _symmetry(apply, shape, gen) -> tuple[float, float]:
    u = torch.randn(shape, generator=gen, dtype=torch.float64)
    v = torch.randn(shape, generator=gen, dtype=torch.float64)
    Au, Av = apply(u), apply(v)
    rel = float(((Au * v).sum() - (u * Av).sum()).abs() / (Au.norm() * v.norm()))
    return rel, float((Au * u).sum())


@pytest.mark.parametrize("solver", ["levin_irls", "hqs_cg", "svmap", "simap"])
@pytest.mark.parametrize("name", OPERATORS)
def test_cg_normal_matrix_is_symmetric_positive_for_every_operator(name: str, solver: str) -> None:
    shape = (2, 3, 14, 15)
    op, est = _operator_case(name, shape)
    y = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    phys = bind_physics(op, est, y, torch.float64, "test")
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(phys.domain_shape, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        if solver == "levin_irls":
            filters = derivative_filters()
            plain = LevinNormalOperator(phys, 1e-2, filters, [1.0] * 5)
            apply = LevinNormalOperator(phys, 1e-2, filters, [irls_weights(plain.G(x, g), s) for _, g, s in filters])
        elif solver == "hqs_cg":
            apply = HQSNormalOperator(phys, 0.37)
        else:
            torch.manual_seed(0)
            model = (SVMAP if solver == "svmap" else SIMAP)(width=4, layers=1, data_filter_size=3, reg_filter_size=3).double()
            for p in model.parameters():
                torch.nn.init.normal_(p, std=0.3)
            apply, b = model.system(0, x, phys.data(y), phys)
            assert b.shape == x.shape
        rel, energy = _symmetry(apply, phys.domain_shape, gen)
    assert rel < 1e-10, (name, solver, rel)
    assert energy > 0


def test_rkr_binding_subtracts_the_offset_and_solves_jointly() -> None:
    op, est = _operator_case("rkr_reference", (1, 3, 10, 11))
    y = torch.rand(1, 3, 10, 11, dtype=torch.float64)
    phys = bind_physics(op, est, y, torch.float64, "test")
    assert phys.domain_shape == y.shape and phys.margins == (0, 0, 0, 0)
    assert not phys.channelwise and phys.cg_dims == (-3, -2, -1)  # the 1×1 mixing couples the colours
    x = torch.rand_like(y)
    with torch.no_grad():
        full = op.A(x, coefficients=est.coefficients)
        np.testing.assert_allclose((phys.A(x) + phys.offset).numpy(), full.numpy(), atol=1e-12)
        np.testing.assert_allclose(phys.data(full).numpy(), phys.A(x).numpy(), atol=1e-12)
        assert float(phys.offset.abs().max()) > 1e-3  # the test exercises a real bias


def test_missing_operator_parameters_is_a_clear_error() -> None:
    op = restorekit.create("nrknet.rkr", form="paper", num_kernels=3)
    with pytest.raises(restorekit.InputError, match="coefficients"):
        restorekit.create("svmap.levin_irls")(torch.rand(1, 3, 8, 8), None, BlurEstimate(kernel=torch.ones(1, 1, 3, 3) / 9), op)


# --------------------------------------------------------------------------------------
# spatially varying and per-pixel blur on held-out photographs
# --------------------------------------------------------------------------------------


def _photo(index: int, size: int = 64, top: int = 60, left: int = 70) -> torch.Tensor:
    """An RGB crop of a bundled sample photograph (astronaut, chelsea, coffee; not Set3C)."""
    arr = np.asarray(Image.open(sample_images("demo")[index]).convert("RGB"), dtype=np.float64) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr[top:top + size, left:left + size].transpose(2, 0, 1)))[None]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a.clamp(0, 1) - b) ** 2).mean()))


def _ramp_coefficients(G: int, H: int, W: int) -> torch.Tensor:
    """Γ (1, G, H, W): a soft one-hot over the RKR terms whose index grows from 0 (sharp)
    on the left to G − 1 (strongest blur) on the right, rows summing to 1."""
    pos = torch.linspace(0.0, G - 1.0, W, dtype=torch.float64).expand(H, W)
    j = torch.arange(G, dtype=torch.float64)[:, None, None]
    return (1.0 - (pos - j).abs()).clamp_min(0.0)[None]


@pytest.mark.parametrize("image", [0, 1, 2])
def test_levin_irls_over_rkr_solves_spatially_varying_blur(image: int) -> None:
    """A spatially varying blur written as a reference-form RKR (binomial atoms, identity
    mixing plus a bias, Γ ramping from sharp to σ ≈ 2.3 px across the image): with the
    true coefficients Levin IRLS over nrknet.rkr gains ≥ 2 dB on a held-out photograph
    (measured 3.1 / 3.5 / 3.9 dB); with the blur field mirrored it loses (−2.4 to −6.4 dB)."""
    torch.manual_seed(0)
    op = restorekit.create("nrknet.rkr", form="reference", num_kernels=12, channels=3).double()
    with torch.no_grad():
        op.kernels.copy_(torch.tensor([0.0, math.log(2.0)], dtype=torch.float64).expand_as(op.kernels))  # [1, 2, 1]/4
        c = 3
        op.mixing.weight.copy_(torch.eye(c, dtype=torch.float64).repeat(1, op.num_coefficients)[:, :, None, None])
        op.mixing.bias.fill_(0.02)
    sharp = _photo(image)
    gamma = _ramp_coefficients(op.num_coefficients, *sharp.shape[-2:])
    with torch.no_grad():
        blurry = op.A(sharp, coefficients=gamma)
        blurry = blurry + 0.01 * torch.randn(blurry.shape, generator=torch.Generator().manual_seed(image), dtype=torch.float64)
    solver = restorekit.create("svmap.levin_irls", lam=3e-3, precision="float64")
    with torch.no_grad():
        restored = solver(blurry, None, BlurEstimate(coefficients=[gamma]), op).restored
        wrong = solver(blurry, None, BlurEstimate(coefficients=[gamma.flip(-1)]), op).restored
    base = _psnr(blurry - 0.02, sharp)
    gain = _psnr(restored, sharp) - base
    assert gain >= 2.0, gain
    assert _psnr(wrong, sharp) < base + gain - 3.0


def _pixel_gaussians(H: int, W: int, s: int = 7) -> torch.Tensor:
    """Per-pixel Gaussian filters (1, 1, s², H, W), σ from 0.3 (top) to 1.8 px (bottom),
    built with numpy, each summing to 1."""
    c = s // 2
    yy, xx = np.mgrid[-c:c + 1, -c:c + 1]
    out = np.zeros((s * s, H, W))
    for i, sigma in enumerate(np.linspace(0.3, 1.8, H)):
        g = np.exp(-(yy**2 + xx**2) / (2 * sigma**2)).reshape(-1)
        out[:, i, :] = (g / g.sum())[:, None]
    return torch.from_numpy(out)[None, None]


def test_levin_irls_over_per_pixel_filters_solves_per_pixel_blur() -> None:
    """Per-pixel Gaussian blur (σ 0.3 → 1.8 px top to bottom) through
    standard.spatially_variant_filter: +6.9 dB measured; the mirrored filter field loses."""
    sharp = _photo(2)
    f = _pixel_gaussians(*sharp.shape[-2:])
    op = restorekit.create("standard.spatially_variant_filter")
    with torch.no_grad():
        blurry = op.A(sharp, filters=f) + 0.01 * torch.randn(sharp.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        solver = restorekit.create("svmap.levin_irls", lam=3e-3)
        restored = solver(blurry, None, BlurEstimate(extras={"filters": f}), op).restored
        wrong = solver(blurry, None, BlurEstimate(extras={"filters": f.flip(-2)}), op).restored
    assert restored.dtype == torch.float64  # float32 solve, cast back
    gain = _psnr(restored, sharp) - _psnr(blurry, sharp)
    assert gain >= 2.0, gain
    assert _psnr(wrong, sharp) < _psnr(blurry, sharp)


@pytest.mark.parametrize("name", ["svmap.levin_irls", "svmap.hqs", "svmap.irls", "svmap.simap"])
@pytest.mark.parametrize("operator", ["rkr_paper", "spatially_variant_filter", "convolution_reflect"])
def test_decoder_conformance_over_operators(name: str, operator: str) -> None:
    image = torch.rand(2, 3, 12, 12)
    op, est = _operator_case(operator, tuple(image.shape))
    est = BlurEstimate(kernel=None if est.kernel is None else est.kernel.float(),
                       coefficients=None if est.coefficients is None else [c.float() for c in est.coefficients],
                       extras={k: v.float() for k, v in est.extras.items()})
    if op is not None:
        op = op.float()
    options = TINY if name in ("svmap.irls", "svmap.simap") else ({"max_it": 8} if "levin" in name else {"cg_iterations": 5})
    out = check_decoder(restorekit.create(name, **options), image, estimate=est, operator=op)
    if name == "svmap.hqs":
        assert out.extras["x_step"] == "cg"


# --------------------------------------------------------------------------------------
# HQS: FFT x-step when the operator is diagonalisable, CG otherwise
# --------------------------------------------------------------------------------------


def test_hqs_cg_x_step_equals_the_fft_x_step_on_a_circular_operator() -> None:
    torch.manual_seed(0)
    y = torch.rand(1, 3, 24, 26, dtype=torch.float64)
    k = torch.rand(1, 1, 5, 5, dtype=torch.float64)
    k = k / k.sum()
    op = restorekit.create("standard.convolution", boundary="circular")
    est = BlurEstimate(kernel=k)
    fft = restorekit.create("svmap.hqs", padding="none", precision="float64")(y, None, est, op)
    cg = restorekit.create("svmap.hqs", padding="none", precision="float64", x_step="cg", cg_iterations=300,
                           cg_rtol=1e-12)(y, None, est, op)
    assert fft.extras["x_step"] == "fft" and cg.extras["x_step"] == "cg"
    assert float((fft.restored - cg.restored).abs().max()) < 1e-6


def test_hqs_over_a_valid_convolution_uses_cg_and_deblurs() -> None:
    from ._data import levin_kernel, linear_blur_problem

    kernel = levin_kernel("k3")
    sharp, blurry = linear_blur_problem(kernel, size=64)
    T = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None, None]  # noqa: E731
    op = restorekit.create("standard.convolution", boundary="valid")
    out = restorekit.create("svmap.hqs")(T(blurry).float(), None, BlurEstimate(kernel=T(kernel).float()), op)
    assert out.extras["x_step"] == "cg"
    restored = out.restored[0, 0].double()
    gain = _psnr(restored, torch.from_numpy(sharp)) - _psnr(torch.from_numpy(blurry), torch.from_numpy(sharp))
    assert gain > 4.0, gain
    with pytest.raises(restorekit.InputError, match="diagonalise"):
        restorekit.create("svmap.hqs", x_step="fft")(T(blurry).float(), None, BlurEstimate(kernel=T(kernel).float()), op)


def test_hqs_choice_is_visible_in_components_show() -> None:
    from tests.conftest import run_cli

    res = run_cli(["components", "show", "svmap.hqs"])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "choices:" in out and "transfer function" in out and "CG" in out
    for name in ("svmap.irls", "svmap.simap", "svmap.levin_irls"):
        text = run_cli(["components", "show", name]).stdout
        assert "choices:" in text and "our choice" in text and "operator" in text


# --------------------------------------------------------------------------------------
# SVMAP with a blur-map input (stand-in map estimator)
# --------------------------------------------------------------------------------------


class GradientMap(BlurEstimator):
    """A stand-in blur-map estimator: 1 − normalised gradient magnitude at half resolution
    (so the decoder has to resize it), ``(B, 1, H/2, W/2)`` in [0, 1]."""

    provides = frozenset({"map"})

    def forward(self, image, features, estimate, batch):
        g = image.mean(1, keepdim=True)
        mag = (g[..., :, 1:] - g[..., :, :-1]).abs()[..., :-1, :] + (g[..., 1:, :] - g[..., :-1, :]).abs()[..., :, :-1]
        mag = torch.nn.functional.pad(mag, (0, 1, 0, 1), mode="replicate")
        mag = torch.nn.functional.avg_pool2d(mag, 2)
        return BlurEstimate(map=1.0 - mag / mag.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-6))


@pytest.mark.parametrize("map_input", ["regulariser", "both"])
def test_svmap_map_input(map_input: str) -> None:
    torch.manual_seed(0)
    model = SVMAP(iterations=2, map_input=map_input, **TINY)
    assert model.requires == {"kernel|operator", "map"}
    full = SVMAP(map_input=map_input)
    assert sum(p.numel() for p in full.parameters()) == svmap_parameters(map_input=map_input)
    assert svmap_parameters(map_input=map_input) - svmap_parameters() == 2 * 576 * (2 if map_input == "both" else 1)
    assert sum(p.numel() for p in SIMAP(map_input=map_input).parameters()) == simap_parameters(map_input=map_input)
    # without a map estimator the pipeline is rejected at build time, naming the piece
    kernel_est = restorekit.create("standard.given_kernel")
    with pytest.raises(PipelineError, match="map"):
        restorekit.Pipeline(decoder=model, blur_estimators=[kernel_est])
    pipe = restorekit.Pipeline(decoder=model, blur_estimators=[kernel_est, GradientMap()])
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    blurry = torch.rand(1, 3, 16, 18)
    batch = {"blurry": blurry, "kernel": torch.ones(1, 1, 3, 3) / 9}
    out = pipe(batch)
    assert out.restored.shape == blurry.shape and out.estimate.map.shape == (1, 1, 8, 9)
    # the map reaches the filter nets: another map changes the result, and gradients reach its input weights
    other = model(blurry, None, BlurEstimate(kernel=batch["kernel"], map=torch.zeros(1, 1, 8, 9)), None).restored
    assert float((other - out.restored).detach().abs().max()) > 1e-6
    out.restored.square().mean().backward()
    w = model.reg_nets[0][0].weight
    assert w.shape[1] == 2 and float(w.grad[:, 1].abs().sum()) > 0
    if map_input == "both":
        assert model.data_nets[0][0].weight.shape[1] == 2
    else:
        assert model.data_nets[0][0].weight.shape[1] == 1
    # a conformance pass with an explicit map estimate
    check_decoder(model, torch.rand(2, 3, 12, 12), estimate=BlurEstimate(kernel=torch.ones(1, 1, 3, 3) / 9, map=torch.rand(2, 1, 6, 6)))


def test_svmap_map_input_needs_a_map() -> None:
    model = SVMAP(iterations=1, map_input="regulariser", **TINY)
    with pytest.raises(restorekit.InputError, match="map"):
        model(torch.rand(1, 1, 8, 8), None, BlurEstimate(kernel=torch.ones(1, 1, 3, 3) / 9), None)
    with pytest.raises(restorekit.InputError, match="map_input"):
        SVMAP(map_input="data")


# --------------------------------------------------------------------------------------
# pipelines
# --------------------------------------------------------------------------------------


def test_rkr_levin_irls_pipeline() -> None:
    """pipelines/rkr_levin_irls.yaml: nrknet.coefficients predicts Γ, Levin IRLS inverts
    nrknet.rkr with it; the Γ contract is checked at build time."""
    from tests.conftest import ROOT

    overrides = ["model.blur_estimator.widths=[4,4,4]", "model.decoder.max_it=5", "model.decoder.irls_iterations=1"]
    pipe = restorekit.load_pipeline(ROOT / "pipelines" / "rkr_levin_irls.yaml", overrides=overrides)
    assert pipe.operator is not None and type(pipe.operator).__name__ == "RecursiveKernelOperator"
    with torch.no_grad():
        out = pipe({"blurry": torch.rand(1, 3, 32, 32)})
    assert out.restored.shape == (1, 3, 32, 32) and torch.isfinite(out.restored).all()
    with pytest.raises(PipelineError):
        restorekit.load_pipeline(ROOT / "pipelines" / "rkr_levin_irls.yaml", overrides=overrides + ["model.operator.num_kernels=20"])

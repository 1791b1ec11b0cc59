"""Classical solvers of the svmap plugin: CG, the free-boundary operator binding, Levin 2007
IRLS, Krishnan–Fergus 2009 HQS and the Gaussian-prior initialisation.

References are independent of the code under test: scipy convolutions, dense matrices
assembled with numpy, ``numpy.linalg.solve``, brute-force grids, autograd, and the exact
numbers of specs/svmap.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import convolve
from scipy.signal import convolve2d

import restorekit
from restorekit import BlurEstimate
from restorekit.functional import conv2d
from restorekit.plugins.svmap.cg import CirculantPreconditioner, conjugate_gradient
from restorekit.plugins.svmap.gaussian_init import gaussian_prior_deconv, gaussian_prior_init
from restorekit.plugins.svmap.hqs import HQS, _grad_h, _grad_h_adjoint, _grad_v, _grad_v_adjoint, hqs_deconv
from restorekit.plugins.svmap.levin_irls import LevinIRLS, LevinNormalOperator, derivative_filters, irls_weights
from restorekit.plugins.svmap.physics import bind_physics, crop, free_boundary_padding, replicate_pad
from restorekit.plugins.svmap.shrinkage import beta_schedule, hyper_laplacian_shrink
from restorekit.testing import check_decoder

from ._data import levin_kernel, linear_blur_problem, psnr

T = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None, None]  # noqa: E731


# --------------------------------------------------------------------------------------
# free-boundary convolution
# --------------------------------------------------------------------------------------


def _physics(k: np.ndarray, H: int, W: int, C: int = 1, boundary: str = "valid"):
    """The default operator binding of the solvers: standard.convolution with the kernel."""
    op = None if boundary == "valid" else restorekit.create("standard.convolution", boundary=boundary)
    return bind_physics(op, BlurEstimate(kernel=T(k)), torch.zeros(1, C, H, W, dtype=torch.float64),
                        torch.float64, "test")


@pytest.mark.parametrize("ksize", [(5, 5), (6, 4), (3, 7)])
def test_free_boundary_binding_matches_scipy(ksize: tuple[int, int]) -> None:
    """Without an operator the solvers use standard.convolution(boundary=valid): the domain
    is (H+h−1)×(W+w−1), A is scipy's valid convolution and the observation sits at the
    free-boundary margins (interior equals scipy.ndimage.convolve's centring)."""
    rng = np.random.default_rng(1)
    k = rng.random(ksize)
    H, W = 12, 10
    phys = _physics(k, H, W, C=2)
    assert phys.domain_shape == (1, 2, H + ksize[0] - 1, W + ksize[1] - 1)
    assert phys.margins == free_boundary_padding(ksize)
    assert phys.channelwise and phys.offset is None and not phys.diagonalisable
    x = rng.standard_normal((H + ksize[0] - 1, W + ksize[1] - 1))
    out = phys.A(T(x).expand(1, 2, -1, -1))[0, 1].numpy()
    np.testing.assert_allclose(out, convolve2d(x, k, mode="valid"), atol=1e-12)
    top, _, left, _ = phys.margins
    full = convolve(x, k, mode="constant")
    np.testing.assert_allclose(out[2:-2, 2:-2], full[top:top + H, left:left + W][2:-2, 2:-2], atol=1e-12)
    # exact adjoint
    u, v = torch.randn(phys.domain_shape, dtype=torch.float64), torch.randn(1, 2, H, W, dtype=torch.float64)
    lhs, rhs = (phys.A(u) * v).sum(), (u * phys.At(v)).sum()
    assert float((lhs - rhs).abs() / (phys.A(u).norm() * v.norm())) < 1e-10
    # the circulant view measured from the operator is psf2otf(k) on the domain
    from restorekit.functional import psf2otf

    ref = psf2otf(T(k), phys.domain_size)
    assert float((phys.otf() - ref).abs().max()) < 1e-12


def test_circular_binding_uses_the_transfer_function() -> None:
    rng = np.random.default_rng(2)
    k = rng.random((4, 5))
    phys = _physics(k, 9, 11, boundary="circular")
    assert phys.domain_shape == (1, 1, 9, 11) and phys.margins == (0, 0, 0, 0) and phys.diagonalisable
    x = rng.standard_normal((9, 11))
    np.testing.assert_allclose(phys.A(T(x))[0, 0].numpy(), convolve(x, k, mode="wrap"), atol=1e-12)
    K = np.fft.rfft2(convolve(np.eye(1, 99).reshape(9, 11), k, mode="wrap"))  # DFT of the impulse response
    np.testing.assert_allclose(phys.otf()[0, 0].numpy(), K, atol=1e-12)


# --------------------------------------------------------------------------------------
# conjugate gradient
# --------------------------------------------------------------------------------------


def test_cg_solves_spd_system_like_numpy() -> None:
    rng = np.random.default_rng(0)
    n = 12
    Q = rng.standard_normal((n, n))
    M = Q @ Q.T + n * np.eye(n)
    b = rng.standard_normal(n)
    Mt = torch.from_numpy(M)
    apply = lambda x: (Mt @ x.reshape(-1)).reshape(x.shape)  # noqa: E731
    res = conjugate_gradient(apply, torch.from_numpy(b).reshape(1, 1, 3, 4), iterations=n, track=True)
    np.testing.assert_allclose(res.x.reshape(-1).numpy(), np.linalg.solve(M, b), rtol=1e-8, atol=1e-10)
    assert len(res.residual_norms) == n + 1


def test_preconditioned_cg_per_system_and_tolerance_stop() -> None:
    """PCG with an SPD diagonal preconditioner solves two independent systems (inner
    products per system over dims), and rtol freezes each system once it is met."""
    rng = np.random.default_rng(5)
    n = 12
    mats = []
    for _ in range(2):
        Q = rng.standard_normal((n, n))
        mats.append(Q @ Q.T + np.diag(rng.uniform(1, 50, n)))
    Ms = torch.from_numpy(np.stack(mats))  # (2, n, n)
    apply = lambda x: torch.einsum("bij,bj->bi", Ms, x.reshape(2, n)).reshape(x.shape)  # noqa: E731
    d = torch.from_numpy(np.stack([np.diag(m) for m in mats])).reshape(2, 1, 3, 4)
    b = torch.from_numpy(rng.standard_normal((2, 1, 3, 4)))
    res = conjugate_gradient(apply, b, iterations=n, preconditioner=lambda r: r / d, dims=(-3, -2, -1))
    for i in range(2):
        np.testing.assert_allclose(res.x[i].reshape(-1).numpy(), np.linalg.solve(mats[i], b[i].reshape(-1).numpy()), rtol=1e-8)
    loose = conjugate_gradient(apply, b, iterations=n, preconditioner=lambda r: r / d, dims=(-3, -2, -1), rtol=1e-2)
    assert loose.iterations < n
    for i in range(2):
        r = b[i].reshape(-1).numpy() - mats[i] @ loose.x[i].reshape(-1).numpy()
        assert np.linalg.norm(r) <= 1e-2 * np.linalg.norm(b[i].reshape(-1).numpy()) * (1 + 1e-9)


def test_circulant_preconditioner_inverts_a_circulant_system_exactly() -> None:
    """With S = the DFT of a circular convolution's normal matrix, one PCG step solves it."""
    rng = np.random.default_rng(6)
    k = rng.random((3, 3))
    phys = _physics(k, 8, 10, boundary="circular")
    sym = lambda size: phys.otf().abs() ** 2 + 0.1  # noqa: E731
    pre = CirculantPreconditioner(sym, phys.domain_size, circular=True)
    apply = lambda u: phys.AtA(u) + 0.1 * u  # noqa: E731
    b = torch.randn(1, 1, 8, 10, dtype=torch.float64)
    x = conjugate_gradient(apply, b, iterations=1, preconditioner=pre).x
    assert float((apply(x) - b).norm() / b.norm()) < 1e-10
    # zero-extended to a fast FFT size it is still symmetric positive definite
    pre2 = CirculantPreconditioner(lambda size: torch.rand(size[0], size[1] // 2 + 1, dtype=torch.float64) + 0.5, (7, 11))
    u, v = torch.randn(1, 1, 7, 11, dtype=torch.float64), torch.randn(1, 1, 7, 11, dtype=torch.float64)
    assert float(((pre2(u) * v).sum() - (u * pre2(v)).sum()).abs()) < 1e-12 * float(u.norm() * v.norm())
    assert float((pre2(u) * u).sum()) > 0


def _dense(apply, shape: tuple[int, int]) -> np.ndarray:
    n = shape[0] * shape[1]
    cols = []
    for i in range(n):
        e = torch.zeros(1, 1, *shape, dtype=torch.float64)
        e.view(-1)[i] = 1.0
        cols.append(apply(e).reshape(-1).numpy())
    return np.stack(cols, axis=1)


def _levin_reference_matrix(k: np.ndarray, shape: tuple[int, int], lam: float, weights: list[np.ndarray]) -> np.ndarray:
    """KᵀK + λ Σ Gᵀ W G assembled column by column with scipy.signal.convolve2d."""
    n = shape[0] * shape[1]
    filters = [np.array([[1.0, -1.0]]), np.array([[1.0], [-1.0]]), np.array([[-1.0, 2.0, -1.0]]),
               np.array([[-1.0], [2.0], [-1.0]]), np.array([[-1.0, 1.0], [1.0, -1.0]])]

    def op(f: np.ndarray) -> np.ndarray:
        rows = []
        for i in range(n):
            e = np.zeros(n)
            e[i] = 1.0
            rows.append(convolve2d(e.reshape(shape), f, mode="valid").reshape(-1))
        return np.stack(rows, axis=1)

    Km = op(k)
    A = Km.T @ Km
    for f, w in zip(filters, weights):
        G = op(f)
        A += lam * G.T @ np.diag(w.reshape(-1)) @ G
    return A


def test_levin_normal_operator_symmetric_and_equal_to_dense_reference() -> None:
    rng = np.random.default_rng(3)
    k = rng.random((5, 4))
    k /= k.sum()
    H, W = 6, 7
    phys = _physics(k, H, W)
    Nh, Nw = phys.domain_size
    x = rng.random((Nh, Nw))
    filters = derivative_filters()
    plain = LevinNormalOperator(phys, 1.0, filters, [1.0] * 5)
    weights = [irls_weights(plain.G(T(x), g), s) for _, g, s in filters]
    lam = 0.01
    A = LevinNormalOperator(phys, lam, filters, weights)
    u, v = torch.randn(1, 1, Nh, Nw, dtype=torch.float64), torch.randn(1, 1, Nh, Nw, dtype=torch.float64)
    rel = float(((A(u) * v).sum() - (u * A(v)).sum()).abs() / ((A(u) * v).sum().abs()))
    assert rel < 1e-10
    dense = _dense(A, (Nh, Nw))
    ref = _levin_reference_matrix(k, (Nh, Nw), lam, [w[0, 0].numpy() for w in weights])
    np.testing.assert_allclose(dense, ref, atol=1e-12)

    # CG on this system: A-norm error non-increasing, and converges to the dense solve
    y = rng.random((H, W))
    b = phys.At(T(y))
    x_star = np.linalg.solve(ref, b.reshape(-1).numpy())
    res = conjugate_gradient(A, b, x0=replicate_pad(T(y), phys.margins), iterations=Nh * Nw, keep_iterates=True)
    errs = [float((e.reshape(-1).numpy() - x_star) @ ref @ (e.reshape(-1).numpy() - x_star)) for e in res.iterates]
    assert all(b_ <= a_ * (1 + 1e-9) + 1e-20 for a_, b_ in zip(errs, errs[1:]))
    assert errs[-1] < 1e-12 * errs[0]
    np.testing.assert_allclose(res.x.reshape(-1).numpy(), x_star, rtol=1e-6, atol=1e-8)
    # the circulant preconditioner is SPD and PCG reaches the same solution in far fewer steps
    pre = A.preconditioner()
    assert float(((pre(u) * v).sum() - (u * pre(v)).sum()).abs()) < 1e-10 * float(u.norm() * v.norm())
    pres = conjugate_gradient(A, b, x0=replicate_pad(T(y), phys.margins), iterations=Nh * Nw, preconditioner=pre, rtol=1e-10)
    np.testing.assert_allclose(pres.x.reshape(-1).numpy(), x_star, rtol=1e-6, atol=1e-8)
    assert pres.iterations < res.iterations


def test_levin_circular_operator_matches_wrap_convolution_reference() -> None:
    """A circular convolution operator: A = KᵀK + λ Σ Gᵀ W G with K, G periodic
    (scipy mode='wrap', the toolkit's centring)."""
    rng = np.random.default_rng(4)
    k = rng.random((3, 4))
    k /= k.sum()
    shape = (6, 7)
    n = shape[0] * shape[1]
    phys = _physics(k, *shape, boundary="circular")
    filters = derivative_filters()
    weights = [torch.rand(1, 1, *shape, dtype=torch.float64) + 0.5 for _ in filters]
    lam = 0.05
    A = LevinNormalOperator(phys, lam, filters, weights)
    assert A.circular

    def wrap_matrix(f: np.ndarray) -> np.ndarray:
        return np.stack([convolve(np.eye(n)[i].reshape(shape), f, mode="wrap").reshape(-1) for i in range(n)], axis=1)

    Kd = wrap_matrix(k)
    ref = Kd.T @ Kd
    for (_, g, _), w in zip(filters, weights):
        Gd = wrap_matrix(g[0, 0].numpy())
        ref = ref + lam * Gd.T @ np.diag(w.reshape(-1).numpy()) @ Gd
    np.testing.assert_allclose(_dense(A, shape), ref, atol=1e-12)


def test_levin_irls_weight_values_from_spec() -> None:
    small = torch.tensor([0.0, 0.005, -0.01], dtype=torch.float64)
    assert torch.allclose(irls_weights(small, 1.0), torch.full_like(small, 0.1 * 0.01**-1.2))
    assert abs(0.1 * 0.01**-1.2 - 25.12) < 0.005
    assert torch.allclose(irls_weights(small, 0.25), torch.full_like(small, 6.2797), atol=1e-3)
    assert float(irls_weights(torch.tensor([0.5], dtype=torch.float64), 1.0)) == pytest.approx(0.1 * 0.5**-1.2)


# --------------------------------------------------------------------------------------
# Krishnan–Fergus
# --------------------------------------------------------------------------------------


def test_beta_schedule() -> None:
    betas = beta_schedule()
    assert len(betas) == 6
    assert betas[0] == 1.0 and betas[-1] == pytest.approx(181.02, abs=0.005)
    assert betas[2] == pytest.approx(8.0)


def _brute(v: float, beta: float, alpha: float) -> float:
    u = abs(v)
    grid = np.concatenate([np.arange(-u, u + 5e-6, 1e-5), [0.0]])
    obj = np.abs(grid) ** alpha + 0.5 * beta * (grid - v) ** 2
    return float(grid[np.argmin(obj)])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8, 1.0])
@pytest.mark.parametrize("beta", [1.0, 8.0, 181.02])
def test_shrinkage_matches_brute_force(alpha: float, beta: float, dtype: torch.dtype) -> None:
    vs = np.array([-3.5, -1.1, -0.63, -0.31, -0.12, -0.05, 0.0, 0.02, 0.07, 0.2, 0.45, 0.77, 1.3, 2.0, 6.0])
    w = hyper_laplacian_shrink(torch.from_numpy(vs).to(dtype), beta, alpha)
    assert w.dtype == dtype
    ref = np.array([_brute(v, beta, alpha) for v in vs])
    np.testing.assert_allclose(w.double().numpy(), ref, atol=1e-4)
    # a clearly nonzero solution exists in the tested range (the test is not all zeros)
    assert np.count_nonzero(ref) >= 3


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8])
@pytest.mark.parametrize("beta", [2.83, 64.0])
def test_shrinkage_threshold_and_chunks(alpha: float, beta: float) -> None:
    """0 just below the threshold, the brute-force minimiser just above it; a tensor of
    several chunks, most of them wholly below the threshold, matches the brute force."""
    from restorekit.plugins.svmap import shrinkage
    from restorekit.plugins.svmap.shrinkage import shrink_threshold

    thr = shrink_threshold(beta, alpha)
    below, above = thr * (1 - 1e-3), thr * (1 + 1e-3)
    w = hyper_laplacian_shrink(torch.tensor([below, -below, above, -above], dtype=torch.float64), beta, alpha).numpy()
    assert w[0] == 0.0 and w[1] == 0.0 and w[2] > 0 and w[3] < 0
    assert abs(w[2] - _brute(above, beta, alpha)) < 1e-4
    # the objective at the threshold is the same for 0 and for the candidate (a true tie)
    obj = lambda s_, v: abs(s_) ** alpha + 0.5 * beta * (s_ - v) ** 2  # noqa: E731
    wt = float(hyper_laplacian_shrink(torch.tensor([above], dtype=torch.float64), beta, alpha))
    assert abs(obj(wt, above) - obj(0.0, above)) < 1e-2 * obj(0.0, above)
    n = 3 * shrinkage.CHUNK + 17
    v = torch.zeros(n, dtype=torch.float64)
    rng = np.random.default_rng(0)
    idx = rng.choice(np.arange(shrinkage.CHUNK, 2 * shrinkage.CHUNK), 40, replace=False)
    v[idx] = torch.from_numpy(rng.uniform(-3 * thr, 3 * thr, 40))
    out = hyper_laplacian_shrink(v.reshape(1, 1, 1, n), beta, alpha).reshape(-1).numpy()
    assert np.count_nonzero(out) == np.count_nonzero(np.abs(v.numpy()) >= thr) > 0
    np.testing.assert_allclose(out[idx], [_brute(float(x), beta, alpha) for x in v[idx]], atol=1e-4)


def test_finite_difference_adjoints() -> None:
    u, v = torch.randn(2, 1, 7, 9, dtype=torch.float64), torch.randn(2, 1, 7, 9, dtype=torch.float64)
    for D, Dt in ((_grad_h, _grad_h_adjoint), (_grad_v, _grad_v_adjoint)):
        assert float(((D(u) * v).sum() - (u * Dt(v)).sum()).abs()) < 1e-10 * float(u.norm() * v.norm())


def test_hqs_x_step_is_the_exact_minimiser() -> None:
    """One HQS step from x0 minimises (λ/2)‖k⊛x − y‖² + (β/2)‖∇x − w(x0)‖² (autograd check)."""
    torch.manual_seed(0)
    y = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    k = torch.rand(1, 1, 5, 5, dtype=torch.float64)
    k = k / k.sum()
    x0 = torch.rand_like(y)
    lam, beta, alpha = 50.0, 8.0, 0.5
    x = hqs_deconv(y, k, lam=lam, alpha=alpha, betas=[beta], x0=x0).requires_grad_(True)
    wh = hyper_laplacian_shrink(_grad_h(x0), beta, alpha)
    wv = hyper_laplacian_shrink(_grad_v(x0), beta, alpha)
    Kx = conv2d(x, k, boundary="circular", method="spatial")
    energy = 0.5 * lam * ((Kx - y) ** 2).sum() + 0.5 * beta * (((_grad_h(x) - wh) ** 2).sum() + ((_grad_v(x) - wv) ** 2).sum())
    (grad,) = torch.autograd.grad(energy, x)
    assert float(grad.abs().max()) < 1e-8 * lam


def test_gaussian_prior_init_inverts_circular_blur_at_lambda_zero() -> None:
    rng = np.random.default_rng(2)
    x = rng.random((20, 24))
    k1 = np.array([0.1, 0.8, 0.1])
    k = np.outer(k1, np.array([0.15, 0.7, 0.15]))  # OTF bounded away from 0
    y = convolve(x, k, mode="wrap")
    rec = gaussian_prior_deconv(T(y), T(k), lam=0.0, pad=False)[0, 0].numpy()
    assert np.linalg.norm(rec - x) / np.linalg.norm(x) < 1e-8
    # with λ₀ > 0 it is the per-frequency formula of the spec
    lam = 0.01
    K = np.fft.fft2(np.roll(np.pad(k, ((0, 17), (0, 21))), (-1, -1), axis=(0, 1)))
    Dx = np.fft.fft2(np.roll(np.pad([[1.0, -1.0]], ((0, 19), (0, 22))), (0, -1), axis=(0, 1)))
    Dy = np.fft.fft2(np.roll(np.pad([[1.0], [-1.0]], ((0, 18), (0, 23))), (-1, 0), axis=(0, 1)))
    ref = np.real(np.fft.ifft2(np.conj(K) * np.fft.fft2(y) / (np.abs(K) ** 2 + lam * (np.abs(Dx) ** 2 + np.abs(Dy) ** 2))))
    np.testing.assert_allclose(gaussian_prior_deconv(T(y), T(k), lam=lam, pad=False)[0, 0].numpy(), ref, atol=1e-10)


# --------------------------------------------------------------------------------------
# end-to-end quality on Set3C × Levin kernels (σ = 2.55/255)
# --------------------------------------------------------------------------------------


def _restore(decoder, blurry: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out = decoder(T(blurry).float(), None, BlurEstimate(kernel=T(kernel).float()), None)
    return out.restored[0, 0].double().numpy()


@pytest.mark.parametrize("name", ["levin_irls", "hqs"])
def test_solvers_beat_blurry_and_gaussian_init_and_need_the_unflipped_kernel(name: str) -> None:
    kernel = levin_kernel("k1")  # 19×19, asymmetric
    assert np.abs(kernel - kernel[::-1, ::-1]).max() > 0.01
    sharp, blurry = linear_blur_problem(kernel, size=80)
    decoder = restorekit.create(f"svmap.{name}", **({"max_it": 100} if name == "levin_irls" else {}))
    restored = _restore(decoder, blurry, kernel)
    flipped = _restore(decoder, blurry, kernel[::-1, ::-1].copy())
    init = crop(gaussian_prior_deconv(T(blurry), T(kernel)), free_boundary_padding(kernel.shape))[0, 0].numpy()
    p_blurry, p_init, p_out, p_flip = psnr(blurry, sharp), psnr(init, sharp), psnr(restored, sharp), psnr(flipped, sharp)
    assert p_out > p_blurry + 4.0, (p_out, p_blurry)
    assert p_out > p_init + 3.0, (p_out, p_init)
    assert p_out > p_flip + 3.0, (p_out, p_flip)


def _levin_energy(x: np.ndarray, y: np.ndarray, k: np.ndarray, lam: float) -> float:
    """Levin 2007 energy (spec §2) with scipy ``valid`` convolutions."""
    rho = lambda z: float(np.sum(np.abs(z) ** 0.8))  # noqa: E731
    first = [np.array([[1.0, -1.0]]), np.array([[1.0], [-1.0]])]
    second = [np.array([[-1.0, 2.0, -1.0]]), np.array([[-1.0], [2.0], [-1.0]]), np.array([[-1.0, 1.0], [1.0, -1.0]])]
    data = float(np.sum((convolve2d(x, k, mode="valid") - y) ** 2))
    return data + lam * sum(rho(convolve2d(x, g, mode="valid")) for g in first) + 0.25 * lam * sum(
        rho(convolve2d(x, g, mode="valid")) for g in second
    )


def test_levin_irls_iterations_lower_the_sparse_prior_energy() -> None:
    kernel = levin_kernel("k3")  # 15×15
    sharp, blurry = linear_blur_problem(kernel, size=64)
    solver = LevinIRLS(max_it=100, precision="float64")
    solutions, _ = solver.solve(T(blurry), solver.bind(T(blurry), BlurEstimate(kernel=T(kernel)), None))
    energies = [_levin_energy(x[0, 0].numpy(), blurry, kernel, solver.lam) for x in solutions]
    assert len(energies) == 3
    assert energies[1] < energies[0] and energies[2] < energies[0], energies


# --------------------------------------------------------------------------------------
# component contract and YAML pipelines
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["svmap.levin_irls", "svmap.hqs"])
def test_decoder_conformance(name: str) -> None:
    decoder = restorekit.create(name, **({"max_it": 10} if "levin" in name else {}))
    check_decoder(decoder, torch.rand(2, 3, 20, 20))


@pytest.mark.parametrize("name", ["levin_irls", "hqs"])
def test_pipeline_yaml_runs(name: str) -> None:
    from tests.conftest import ROOT

    pipe = restorekit.load_pipeline(ROOT / "pipelines" / f"{name}.yaml", overrides=["model.decoder.clamp=false"])
    blurry = torch.rand(1, 3, 24, 24)
    out = pipe({"blurry": blurry, "kernel": torch.ones(1, 1, 5, 5)})
    assert out.restored.shape == blurry.shape


def test_missing_kernel_is_a_clear_error() -> None:
    with pytest.raises(restorekit.InputError, match="given_kernel"):
        LevinIRLS()(torch.rand(1, 1, 8, 8), None, BlurEstimate(), None)
    with pytest.raises(restorekit.InputError, match="larger than the image"):
        HQS()(torch.rand(1, 1, 8, 8), None, BlurEstimate(kernel=torch.ones(1, 1, 9, 9) / 81), None)


@pytest.mark.parametrize("size", [(2, 8), (8, 1), (2, 2)])
def test_levin_irls_rejects_images_smaller_than_3_pixels(size: tuple[int, int]) -> None:
    H, W = size
    with pytest.raises(restorekit.InputError, match=rf"{H}×{W} pixels.*at least 3×3"):
        LevinIRLS()(torch.rand(1, 1, H, W), None, BlurEstimate(kernel=torch.ones(1, 1, 1, 1)), None)
    # the smallest accepted size runs
    out = LevinIRLS(max_it=5)(torch.rand(1, 1, 3, 3), None, BlurEstimate(kernel=torch.ones(1, 1, 1, 1)), None)
    assert out.restored.shape == (1, 1, 3, 3)

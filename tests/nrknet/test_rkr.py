"""``nrknet.rkr`` (both forms) against independent references.

* brute force: explicit per-pixel kernels ``K_{h,w} = Σ_j Γ_j[h,w] A_j`` (paper eq. 1),
  atoms composed by scipy.signal.convolve2d, applied by a per-pixel loop (zero padding),
  compared away from the border;
* impulse response of one term = a_1a_1ᵀ ∗ … ∗ a_ja_jᵀ (nrknet.md "Numbers to assert");
* the numbers of the spec (parameter counts, supports, Γ channels, official key shapes);
* adjointness (Operator.adjointness_error), gradcheck (finite differences).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

import restorekit
from restorekit.errors import ConfigError, InputError
from restorekit.testing.conformance import check_operator

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _op(form: str = "reference", num_kernels: int = 21, seed: int = 0, **kw) -> restorekit.Operator:
    torch.manual_seed(seed)
    return restorekit.create("nrknet.rkr", form=form, num_kernels=num_kernels, **kw)


def _randomise_mixing(op, seed: int) -> None:
    if op.form == "reference":
        g = _gen(seed)
        with torch.no_grad():
            op.mixing.weight.copy_(torch.randn(op.mixing.weight.shape, generator=g, dtype=op.mixing.weight.dtype))
            op.mixing.bias.copy_(torch.randn(op.mixing.bias.shape, generator=g, dtype=op.mixing.bias.dtype))


def _composed_kernels(atoms: np.ndarray) -> list[np.ndarray]:
    """Per colour list of term kernels K_0 = δ, K_r = K_{r−1} ∗ a_r a_rᵀ (scipy full conv)."""
    r_steps, c, _ = atoms.shape
    out = []
    for k in range(c):
        cur = np.ones((1, 1))
        terms = [cur]
        for r in range(r_steps):
            cur = convolve2d(cur, np.outer(atoms[r, k], atoms[r, k]), mode="full")
            terms.append(cur)
        out.append(terms)
    return out  # out[c][r] has shape (2r+1, 2r+1)


# ---------------------------------------------------------------------------------------
# the numbers of the spec
# ---------------------------------------------------------------------------------------


def test_reference_form_parameters_and_official_layout() -> None:
    op = _op("reference", 21)
    shapes = {n: tuple(p.shape) for n, p in op.named_parameters()}
    assert shapes == {"kernels": (63, 1, 1, 2), "mixing.weight": (3, 66, 1, 1), "mixing.bias": (3,)}
    assert op.kernels.numel() == 126
    assert op.mixing.weight.numel() + op.mixing.bias.numel() == 201
    assert set(op.OFFICIAL_KEYS.values()) == set(op.state_dict())
    assert op.num_coefficients == 22 and op.kernel_size == 43
    assert not op.linear and op.weighting == "output" and op.requires == frozenset({"coefficients"})
    # FullRKR init: logits U[0, 1)
    assert float(op.kernels.detach().min()) >= 0.0 and float(op.kernels.detach().max()) < 1.0


def test_paper_form_parameters() -> None:
    op = _op("paper", 20)
    assert {n: tuple(p.shape) for n, p in op.named_parameters()} == {"logits": (20, 3)}
    assert sum(p.numel() for p in op.parameters()) == 60
    assert op.num_coefficients == 20 and op.kernel_size == 39 and op.linear


@pytest.mark.parametrize("form,num_kernels", [("reference", 21), ("paper", 20)])
def test_atoms_are_positive_unit_sum(form: str, num_kernels: int) -> None:
    op = _op(form, num_kernels, seed=3)
    with torch.no_grad():  # spread the logits so the test is not trivially near-uniform
        for p in op.parameters():
            p.mul_(6.0).sub_(3.0)
    a = op.all_atoms()
    assert bool((a >= 0).all())
    torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)), rtol=0, atol=1e-6)
    if form == "reference":
        assert a.shape == (21, 3, 3)
        torch.testing.assert_close(a[..., 0], a[..., 2], rtol=0, atol=0)
        # taps (e^p, e^q, e^p) / (2e^p + e^q) from logits [p, q] at row 3j + c
        p, q = op.kernels[3 * 4 + 2, 0, 0].double()
        expect = torch.stack([p.exp(), q.exp(), p.exp()]) / (2 * p.exp() + q.exp())
        torch.testing.assert_close(a[4, 2].double(), expect, rtol=0, atol=1e-7)
    else:
        assert a.shape == (20, 3)
        # stack uses a_2 … a_J, shared by all colours
        torch.testing.assert_close(op.atoms(), a[1:, None, :].expand(19, 3, 3), rtol=0, atol=0)


@pytest.mark.parametrize("form,num_kernels,side", [("reference", 21, 43), ("paper", 20, 39)])
def test_support_of_the_largest_term(form: str, num_kernels: int, side: int) -> None:
    """B_21 (reference) is 43×43 and paper A_20 is 39×39, measured by an impulse response."""
    op = _op(form, num_kernels).double()
    n = 51
    x = torch.zeros(1, 3, n, n, dtype=F64)
    x[:, :, n // 2, n // 2] = 1.0
    gamma = torch.zeros(1, op.num_coefficients, n, n, dtype=F64)
    gamma[:, -1] = 1.0
    y = op.A_linear(x, coefficients=gamma).detach()
    nz = torch.nonzero(y[0, 0].abs() > 0)
    extent = (nz.max(0).values - nz.min(0).values + 1).tolist()
    assert extent == [side, side]
    assert tuple(op.term_kernels().shape) == (op.num_coefficients, 3, side, side)


@pytest.mark.parametrize("j", [1, 2, 7, 21])
def test_impulse_response_of_one_term(j: int) -> None:
    """Γ_j ≡ 1 for one j, W = identity, b = 0: interior impulse response = a_1a_1ᵀ ∗ … ∗ a_ja_jᵀ."""
    op = _op("reference", 21, seed=j).double()
    with torch.no_grad():
        w = torch.zeros(3, 22, 3, dtype=F64)
        w[:, :, :] = torch.eye(3, dtype=F64)[:, None, :]  # W[o, 3j'+c'] = δ(o, c')
        op.mixing.weight.copy_(w.reshape(3, 66, 1, 1))
        op.mixing.bias.zero_()
    n = 49
    x = torch.zeros(1, 3, n, n, dtype=F64)
    x[:, :, n // 2, n // 2] = 1.0
    gamma = torch.zeros(1, 22, n, n, dtype=F64)
    gamma[:, j] = 1.0
    y = op.A(x, coefficients=gamma).detach()
    atoms = op.all_atoms().detach().numpy()
    for c in range(3):
        k = np.ones((1, 1))
        for r in range(j):
            k = convolve2d(k, np.outer(atoms[r, c], atoms[r, c]))
        expect = np.zeros((n, n))
        expect[n // 2 - j : n // 2 + j + 1, n // 2 - j : n // 2 + j + 1] = k
        np.testing.assert_allclose(y[0, c].numpy(), expect, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------
# brute force: explicit per-pixel kernels
# ---------------------------------------------------------------------------------------


def _brute_force(op, x: np.ndarray, gamma: np.ndarray, margin: int) -> np.ndarray:
    """Per-pixel loop: y[o,h,w] = Σ_{c'} Σ_q K_{h,w}[o,c'](q) x[c', (h,w)+q] (+ b), interior only."""
    atoms = op.atoms().detach().double().numpy()  # (R, C, 3)
    r_steps, c, _ = atoms.shape
    kern = _composed_kernels(atoms)
    size = 2 * r_steps + 1
    padded = np.zeros((r_steps + 1, c, size, size))  # centred term kernels
    for k in range(c):
        for r in range(r_steps + 1):
            padded[r, k, r_steps - r : r_steps + r + 1, r_steps - r : r_steps + r + 1] = kern[k][r]
    if op.form == "reference":
        w = op.mixing.weight.detach().double().numpy()[:, :, 0, 0].reshape(c, r_steps + 1, c)  # [o, j, c']
        bias = op.mixing.bias.detach().double().numpy()
    else:
        w = np.broadcast_to(np.eye(c)[:, None, :], (c, r_steps + 1, c))
        bias = np.zeros(c)
    b, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (r_steps, r_steps), (r_steps, r_steps)))  # zero padding
    y = np.full((b, c, h, wd), np.nan)
    for bi in range(b):
        for i in range(margin, h - margin):
            for jj in range(margin, wd - margin):
                patch = xp[bi, :, i : i + size, jj : jj + size]  # x[c', (i,jj) + q], q ∈ [−R, R]²
                for o in range(c):
                    k_pix = np.einsum("j,jc,jcuv->cuv", gamma[bi, :, i, jj], w[o], padded)  # K_{h,w}[o, :]
                    y[bi, o, i, jj] = (k_pix * patch).sum() + bias[o]
    return y


@pytest.mark.parametrize("form,num_kernels", [("reference", 4), ("paper", 5), ("reference", 21), ("paper", 20)])
def test_equals_brute_force_per_pixel_kernels_away_from_border(form: str, num_kernels: int) -> None:
    op = _op(form, num_kernels, seed=11).double()
    _randomise_mixing(op, 12)
    if form == "paper":  # asymmetric atoms: the orientation of the composition matters
        with torch.no_grad():
            op.logits.copy_(torch.randn(op.logits.shape, generator=_gen(13), dtype=F64) * 2)
    g = _gen(14)
    r_steps = op.num_steps
    H, W = max(14, 2 * r_steps + 3), max(15, 2 * r_steps + 4)  # the full official sizes too (J = 21 / 20)
    x = torch.randn(2, 3, H, W, generator=g, dtype=F64)
    gamma = torch.randn(2, op.num_coefficients, H, W, generator=g, dtype=F64)
    y = op.A(x, coefficients=gamma).detach().numpy()
    expect = _brute_force(op, x.numpy(), gamma.numpy(), margin=r_steps)
    inner = (slice(None), slice(None), slice(r_steps, H - r_steps), slice(r_steps, W - r_steps))
    np.testing.assert_allclose(y[inner], expect[inner], rtol=0, atol=1e-10)
    # explicit_kernels gives the same per-pixel kernels (applied here by a direct sum)
    k = op.explicit_kernels(gamma).detach().numpy()  # (B, C, C, S², H, W)
    s = op.kernel_size
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (r_steps, r_steps), (r_steps, r_steps)))
    i, jj = H // 2, W // 2
    patch = xp[1, :, i : i + s, jj : jj + s].reshape(3, s * s)
    via_k = np.einsum("ocq,cq->o", k[1, :, :, :, i, jj], patch) + op.offset.detach().numpy().reshape(3)
    np.testing.assert_allclose(via_k, expect[1, :, i, jj], rtol=0, atol=1e-10)


def test_affine_parts_and_constant_preservation() -> None:
    op = _op("reference", 3, seed=5).double()
    _randomise_mixing(op, 6)
    g = _gen(7)
    x = torch.randn(1, 3, 8, 8, generator=g, dtype=F64)
    gamma = torch.randn(1, 4, 8, 8, generator=g, dtype=F64)
    torch.testing.assert_close(op.A(x, coefficients=gamma) - op.A_linear(x, coefficients=gamma), op.offset.expand(1, 3, 8, 8))
    # paper form, Σ_j Γ_j = 1 at every pixel: constants are preserved (rows sum to 1, output side)
    paper = _op("paper", 4, seed=8).double()
    gamma = torch.softmax(torch.randn(1, 4, 8, 8, generator=g, dtype=F64), dim=1)
    const = torch.full((1, 3, 8, 8), 0.37, dtype=F64)
    torch.testing.assert_close(paper.A(const, coefficients=gamma), const, rtol=0, atol=1e-14)
    assert float(paper.offset.abs().sum()) == 0.0


# ---------------------------------------------------------------------------------------
# adjointness, gradients
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form,num_kernels", [("reference", 21), ("paper", 20), ("reference", 3), ("paper", 1)])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_adjointness_of_the_linear_part(form: str, num_kernels: int, dtype: torch.dtype, tol: float) -> None:
    op = _op(form, num_kernels, seed=num_kernels).to(dtype)
    _randomise_mixing(op, 1)
    gamma = torch.randn(2, op.num_coefficients, 12, 13, generator=_gen(2), dtype=dtype)
    assert op.adjointness_error((2, 3, 12, 13), dtype=dtype, coefficients=gamma) < tol
    # a float32 module applied to float64 data is still exactly adjoint in float64
    if dtype == torch.float64:
        op32 = _op(form, num_kernels, seed=num_kernels)
        assert op32.adjointness_error((1, 3, 9, 9), dtype=F64, coefficients=gamma[:1, :, :9, :9]) < 1e-10


@pytest.mark.parametrize("form", ["reference", "paper"])
def test_conformance_suite(form: str) -> None:
    op = _op(form, 3)
    gamma = torch.randn(2, op.num_coefficients, 10, 10, generator=_gen(3))
    res = check_operator(op, (2, 3, 10, 10), {"coefficients": gamma})
    assert res["adjoint_float64"] < 1e-10


def test_gradcheck_reference_form() -> None:
    op = _op("reference", 2, seed=1).double()
    g = _gen(2)
    x = torch.randn(1, 3, 4, 5, generator=g, dtype=F64, requires_grad=True)
    gamma = torch.randn(1, 3, 4, 5, generator=g, dtype=F64, requires_grad=True)
    names = ["kernels", "mixing.weight", "mixing.bias"]
    params = [dict(op.named_parameters())[n].detach().clone().requires_grad_(True) for n in names]

    def f(x, gamma, *ps):
        return torch.func.functional_call(op, dict(zip(names, ps)), (x,), {"coefficients": gamma})

    assert torch.autograd.gradcheck(f, (x, gamma, *params))

    def f_adj(y, gamma, k, w):
        wrapped = _AdjointCall(op)
        return torch.func.functional_call(wrapped, {"op.kernels": k, "op.mixing.weight": w}, (y,), {"coefficients": gamma})

    assert torch.autograd.gradcheck(f_adj, (x, gamma, params[0], params[1]))


class _AdjointCall(torch.nn.Module):
    """Wraps op.A_adjoint as forward so functional_call can substitute its parameters."""

    def __init__(self, op) -> None:
        super().__init__()
        self.op = op

    def forward(self, y, coefficients):
        return self.op.A_adjoint(y, coefficients=coefficients)


def test_gradcheck_paper_form() -> None:
    op = _op("paper", 3, seed=1).double()
    g = _gen(3)
    x = torch.randn(1, 3, 4, 4, generator=g, dtype=F64, requires_grad=True)
    gamma = torch.randn(1, 3, 4, 4, generator=g, dtype=F64, requires_grad=True)
    logits = op.logits.detach().clone().requires_grad_(True)

    def f(x, gamma, logits):
        return torch.func.functional_call(op, {"logits": logits}, (x,), {"coefficients": gamma})

    assert torch.autograd.gradcheck(f, (x, gamma, logits))
    # a_1 is unused in the paper form (A_1 = Δ): its logits get exactly zero gradient
    y = f(x, gamma, logits)
    (gl,) = torch.autograd.grad(y.square().sum(), logits)
    assert float(gl[0].abs().max()) == 0.0 and float(gl[1:].abs().max()) > 0.0


# ---------------------------------------------------------------------------------------
# parameters and errors
# ---------------------------------------------------------------------------------------


def test_list_of_coefficients_picks_the_matching_scale() -> None:
    op = _op("reference", 2)
    g = _gen(4)
    gammas = [torch.randn(1, 3, 16, 16, generator=g), torch.randn(1, 3, 8, 8, generator=g)]
    x = torch.randn(1, 3, 8, 8, generator=g)
    torch.testing.assert_close(op.A(x, coefficients=gammas), op.A(x, coefficients=gammas[1]), rtol=0, atol=0)
    op.update_parameters(coefficients=gammas)
    torch.testing.assert_close(op.A(x), op.A(x, coefficients=gammas[1]), rtol=0, atol=0)
    bound = op.bind(coefficients=gammas)
    torch.testing.assert_close(bound.A_adjoint(x), op.A_adjoint(x, coefficients=gammas[1]), rtol=0, atol=0)
    with pytest.raises(InputError, match=r"none of the per-scale coefficients \[\(16, 16\), \(8, 8\)\] matches the image size \(4, 4\)"):
        op.A(torch.randn(1, 3, 4, 4), coefficients=gammas)


def test_errors_name_the_problem_and_the_fix() -> None:
    ref_op, paper_op = _op("reference", 21), _op("paper", 20)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(InputError, match="expected G = J \\+ 1 .* = 22"):
        ref_op.A(x, coefficients=torch.randn(1, 20, 8, 8))
    with pytest.raises(InputError, match="expected G = J .* = 20"):
        paper_op.A(x, coefficients=torch.randn(1, 22, 8, 8))
    with pytest.raises(InputError, match="needs coefficients"):
        _op("reference", 2).A(x)
    with pytest.raises(InputError, match="channels=3"):
        ref_op.A(torch.randn(1, 1, 8, 8), coefficients=torch.randn(1, 22, 8, 8))
    with pytest.raises(InputError, match="same scale"):
        ref_op.A(x, coefficients=torch.randn(1, 22, 4, 4))
    with pytest.raises(InputError, match="unknown parameter"):
        ref_op.A(x, coefficients=torch.randn(1, 22, 8, 8), kernel=torch.ones(1, 1, 3, 3))
    with pytest.raises(ConfigError):
        restorekit.create("nrknet.rkr", form="pepper")
    with pytest.raises(ConfigError, match="num_kernels"):
        restorekit.create("nrknet.rkr", num_kernels=0)


def test_backend_reference_equals_auto_on_cpu() -> None:
    a = _op("reference", 3, seed=2, backend="reference")
    b = _op("reference", 3, seed=2, backend="auto")
    x = torch.randn(1, 3, 9, 9, generator=_gen(1))
    gamma = torch.randn(1, 4, 9, 9, generator=_gen(2))
    assert torch.equal(a.A(x, coefficients=gamma), b.A(x, coefficients=gamma))
    assert torch.equal(a.A_adjoint(x, coefficients=gamma), b.A_adjoint(x, coefficients=gamma))


@pytest.mark.parametrize("form", ["reference", "paper"])
def test_triton_backend_matches_reference(form: str) -> None:
    """backend: triton (Triton's interpreter on the CPU) equals the reference, values and gradients."""
    pytest.importorskip("triton")
    from restorekit import kernels as rk

    if not rk.triton_available("rkr_apply"):
        pytest.skip("restorekit.kernels.triton_rkr is not importable")
    ops = {b: _op(form, 2, seed=4, backend=b) for b in ("reference", "triton")}
    _randomise_mixing(ops["reference"], 5)
    ops["triton"].load_state_dict(ops["reference"].state_dict())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    g = _gen(6)
    x0 = torch.randn(1, 3, 7, 9, generator=g).to(device)
    gamma0 = torch.randn(1, ops["reference"].num_coefficients, 7, 9, generator=g).to(device)
    out = {}
    for name, op in ops.items():
        op.to(device)
        x, gamma = x0.clone().requires_grad_(True), gamma0.clone().requires_grad_(True)
        y = op.A(x, coefficients=gamma)
        y.square().sum().backward()
        adj = op.A_adjoint(x0, coefficients=gamma0)
        out[name] = [y.detach(), adj, x.grad, gamma.grad, *[p.grad for p in op.parameters()]]
    for ref_t, tri_t in zip(out["reference"], out["triton"]):
        torch.testing.assert_close(tri_t, ref_t, rtol=1e-5, atol=1e-5)

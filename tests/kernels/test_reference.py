"""The PyTorch reference kernels against independent references.

* separable conv: scipy.ndimage.correlate1d with mode='mirror' (= PyTorch 'reflect');
* RKR: the recursion rebuilt with scipy + numpy, and the adjoint against autograd's
  transpose and the inner-product identity;
* per-pixel filters: a numpy double loop (gather and scatter);
* gradients: torch.autograd.gradcheck (finite differences).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate1d

from restorekit.kernels import reference as ref

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _scipy_sep(img: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Reflect (mirror) pad + row correlation, then column correlation, one 2-D plane."""
    return correlate1d(correlate1d(img, row, axis=1, mode="mirror"), col, axis=0, mode="mirror")


def _inner_rel(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> float:
    """|<a, b> - <c, d>| / (|a| |b|)."""
    return float(((a * b).sum() - (c * d).sum()).abs() / (a.norm() * b.norm()))


# ---------------------------------------------------------------------------------------
# separable 3-tap conv with reflect padding
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 2, 5), (1, 1, 6, 2)])
def test_separable_conv3_matches_scipy_mirror(shape: tuple[int, ...]) -> None:
    g = _gen(1)
    x = torch.randn(shape, generator=g, dtype=F64)
    c = shape[1]
    row = torch.randn(c, 3, generator=g, dtype=F64)  # asymmetric taps: orientation matters
    col = torch.randn(c, 3, generator=g, dtype=F64)
    y = ref.separable_conv3_reflect(x, row, col).numpy()
    expect = np.stack(
        [np.stack([_scipy_sep(x[b, k].numpy(), row[k].numpy(), col[k].numpy()) for k in range(c)]) for b in range(shape[0])]
    )
    assert y.shape == expect.shape
    np.testing.assert_allclose(y, expect, rtol=0, atol=1e-12)


def test_separable_conv3_shared_taps_broadcast_and_float32() -> None:
    g = _gen(2)
    x = torch.randn(1, 3, 8, 8, generator=g)
    taps = torch.rand(1, 3, generator=g)
    y = ref.separable_conv3_reflect(x, taps, taps)
    assert y.dtype == torch.float32
    for k in range(3):
        expect = _scipy_sep(x[0, k].double().numpy(), taps[0].double().numpy(), taps[0].double().numpy())
        np.testing.assert_allclose(y[0, k].numpy(), expect, rtol=0, atol=1e-5)


def test_separable_conv3_transpose_is_the_adjoint_as_a_matrix() -> None:
    """Build both operators as dense matrices from basis vectors and compare Aᵀ with (A)ᵀ."""
    g = _gen(3)
    h, w = 4, 5
    row = torch.randn(1, 3, generator=g, dtype=F64)
    col = torch.randn(1, 3, generator=g, dtype=F64)
    eye = torch.eye(h * w, dtype=F64).reshape(h * w, 1, h, w)
    a_mat = ref.separable_conv3_reflect(eye, row, col).reshape(h * w, h * w).T  # column k = A e_k
    at_mat = ref.separable_conv3_transpose(eye, row, col).reshape(h * w, h * w).T
    torch.testing.assert_close(at_mat, a_mat.T, rtol=0, atol=1e-13)


def test_reflect_pad_adjoint_matches_dense_transpose() -> None:
    h, w = 3, 4
    eye = torch.eye(h * w, dtype=F64).reshape(h * w, 1, h, w)
    pad_mat = torch.nn.functional.pad(eye, (1, 1, 1, 1), mode="reflect").reshape(h * w, -1)  # rows = P e_k
    zeye = torch.eye((h + 2) * (w + 2), dtype=F64).reshape(-1, 1, h + 2, w + 2)
    padt_mat = ref.reflect_pad1_adjoint(zeye).reshape((h + 2) * (w + 2), h * w)  # rows = Pᵀ e_m
    torch.testing.assert_close(padt_mat, pad_mat.T, rtol=0, atol=0)


def test_separable_conv3_errors_name_the_problem() -> None:
    x = torch.randn(1, 3, 5, 5)
    with pytest.raises(ValueError, match=r"row_taps must have shape \(3, 3\)"):
        ref.separable_conv3_reflect(x, torch.rand(2, 3), torch.rand(3, 3))
    with pytest.raises(ValueError, match="H >= 2"):
        ref.separable_conv3_reflect(torch.randn(1, 3, 1, 5), torch.rand(3, 3), torch.rand(3, 3))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ref.separable_conv3_reflect(torch.randn(3, 5, 5), torch.rand(3, 3), torch.rand(3, 3))


# ---------------------------------------------------------------------------------------
# RKR
# ---------------------------------------------------------------------------------------


def _rkr_numpy(x: np.ndarray, atoms: np.ndarray, gamma: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None) -> np.ndarray:
    """The RKR recursion, weighting and mixing written independently with scipy/numpy."""
    b, c, h, w = x.shape
    r_steps = atoms.shape[0]
    stack = [x]
    cur = x
    for r in range(r_steps):
        nxt = np.empty_like(cur)
        for bi in range(b):
            for k in range(c):
                taps = atoms[r, k if atoms.shape[1] > 1 else 0]
                nxt[bi, k] = _scipy_sep(cur[bi, k], taps, taps)
        stack.append(nxt)
        cur = nxt
    terms = [gamma[:, r : r + 1] * stack[r] for r in range(r_steps + 1)]  # each (B, C, H, W)
    if weight is None:
        return sum(terms)
    big = np.concatenate(terms, axis=1)  # kernel-major, colour-minor (B, C(R+1), H, W)
    y = np.einsum("ok,bkhw->bohw", weight, big)
    if bias is not None:
        y = y + bias[None, :, None, None]
    return y


@pytest.mark.parametrize("mixing", [False, True])
@pytest.mark.parametrize("shared_atoms", [False, True])
def test_rkr_apply_matches_numpy_recursion(mixing: bool, shared_atoms: bool) -> None:
    g = _gen(4)
    r_steps, c = 4, 3
    x = torch.randn(2, c, 7, 6, generator=g, dtype=F64)
    atoms = torch.rand(r_steps, 1 if shared_atoms else c, 3, generator=g, dtype=F64)
    gamma = torch.randn(2, r_steps + 1, 7, 6, generator=g, dtype=F64)
    weight = torch.randn(2, c * (r_steps + 1), generator=g, dtype=F64) if mixing else None
    bias = torch.randn(2, generator=g, dtype=F64) if mixing else None
    y = ref.rkr_apply(x, atoms, gamma, weight, bias)
    expect = _rkr_numpy(
        x.numpy(), atoms.numpy(), gamma.numpy(), None if weight is None else weight.numpy(), None if bias is None else bias.numpy()
    )
    assert y.shape == expect.shape
    np.testing.assert_allclose(y.numpy(), expect, rtol=0, atol=1e-12)


def test_rkr_apply_gamma_batch_broadcast() -> None:
    g = _gen(5)
    x = torch.randn(3, 3, 5, 5, generator=g, dtype=F64)
    atoms = torch.rand(2, 3, 3, generator=g, dtype=F64)
    gamma = torch.randn(1, 3, 5, 5, generator=g, dtype=F64)
    y = ref.rkr_apply(x, atoms, gamma)
    y_full = ref.rkr_apply(x, atoms, gamma.expand(3, -1, -1, -1).contiguous())
    torch.testing.assert_close(y, y_full, rtol=0, atol=0)


@pytest.mark.parametrize("mixing", [False, True])
def test_rkr_adjoint_matches_autograd_transpose_and_inner_products(mixing: bool) -> None:
    g = _gen(6)
    r_steps, c = 5, 3
    x = torch.randn(2, c, 8, 7, generator=g, dtype=F64, requires_grad=True)
    atoms = torch.rand(r_steps, c, 3, generator=g, dtype=F64)
    gamma = torch.randn(2, r_steps + 1, 8, 7, generator=g, dtype=F64)
    weight = torch.randn(4, c * (r_steps + 1), generator=g, dtype=F64) if mixing else None
    y = ref.rkr_apply(x, atoms, gamma, weight)
    r = torch.randn(y.shape, generator=g, dtype=F64)
    (vjp,) = torch.autograd.grad((y * r).sum(), x)  # autograd's transpose of the forward graph
    adj = ref.rkr_apply_adjoint(r, atoms, gamma, weight)
    torch.testing.assert_close(adj, vjp, rtol=0, atol=1e-12)
    assert _inner_rel(y.detach(), r, x.detach(), adj) < 1e-12


def test_rkr_adjoint_float32_tolerance() -> None:
    g = _gen(7)
    x = torch.randn(1, 3, 16, 16, generator=g)
    atoms = torch.rand(21, 3, 3, generator=g)
    gamma = torch.randn(1, 22, 16, 16, generator=g)
    weight = torch.randn(3, 66, generator=g)
    y = ref.rkr_apply(x, atoms, gamma, weight)
    r = torch.randn(y.shape, generator=g)
    assert _inner_rel(y, r, x, ref.rkr_apply_adjoint(r, atoms, gamma, weight)) < 1e-4


def test_rkr_gradcheck() -> None:
    g = _gen(8)
    x = torch.randn(1, 2, 4, 5, generator=g, dtype=F64, requires_grad=True)
    atoms = torch.rand(2, 2, 3, generator=g, dtype=F64, requires_grad=True)
    gamma = torch.randn(1, 3, 4, 5, generator=g, dtype=F64, requires_grad=True)
    weight = torch.randn(2, 6, generator=g, dtype=F64, requires_grad=True)
    bias = torch.randn(2, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(ref.rkr_apply, (x, atoms, gamma, weight, bias))
    r = torch.randn(1, 2, 4, 5, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(ref.rkr_apply_adjoint, (r, atoms, gamma, weight))


def test_rkr_errors_name_the_problem() -> None:
    x = torch.randn(1, 3, 6, 6)
    atoms = torch.rand(4, 3, 3)
    with pytest.raises(ValueError, match=r"R\+1 = 5"):
        ref.rkr_apply(x, atoms, torch.randn(1, 4, 6, 6))
    with pytest.raises(ValueError, match="spatial size"):
        ref.rkr_apply(x, atoms, torch.randn(1, 5, 3, 3))
    with pytest.raises(ValueError, match=r"\(C_out, 15\)"):
        ref.rkr_apply(x, atoms, torch.randn(1, 5, 6, 6), torch.randn(3, 12))
    with pytest.raises(ValueError, match=r"atoms must have shape \(R, C, 3\)"):
        ref.rkr_apply(x, torch.rand(4, 3), torch.randn(1, 5, 6, 6))
    with pytest.raises(ValueError, match="bias is only used together with weight"):
        ref.rkr_apply(x, atoms, torch.randn(1, 5, 6, 6), None, torch.zeros(3))


# ---------------------------------------------------------------------------------------
# per-pixel filters
# ---------------------------------------------------------------------------------------


def _pixel_filter_loop(x: np.ndarray, f: np.ndarray, convolution: bool) -> np.ndarray:
    b, ch, h, w = x.shape
    s = int(round(f.shape[2] ** 0.5))
    c = s // 2
    y = np.zeros_like(x)
    for bi in range(b):
        for k in range(ch):
            fk = f[bi if f.shape[0] > 1 else 0, k if f.shape[1] > 1 else 0]
            for i in range(h):
                for j in range(w):
                    acc = 0.0
                    for u in range(s):
                        for v in range(s):
                            tap = fk[u * s + v, i, j]
                            if convolution:  # y(p) = Σ_q f_p(q) x(p − q)
                                ii, jj = i - (u - c), j - (v - c)
                            else:  # y(p) = Σ_q f_p(q) x(p + q)
                                ii, jj = i + u - c, j + v - c
                            if 0 <= ii < h and 0 <= jj < w:
                                acc += tap * x[bi, k, ii, jj]
                    y[bi, k, i, j] = acc
    return y


def _pixel_filter_adjoint_loop(r: np.ndarray, f: np.ndarray, convolution: bool) -> np.ndarray:
    b, ch, h, w = r.shape
    s = int(round(f.shape[2] ** 0.5))
    c = s // 2
    x = np.zeros_like(r)
    for bi in range(b):
        for k in range(ch):
            fk = f[bi if f.shape[0] > 1 else 0, k if f.shape[1] > 1 else 0]
            for i in range(h):
                for j in range(w):
                    for u in range(s):
                        for v in range(s):
                            if convolution:
                                ii, jj = i - (u - c), j - (v - c)
                            else:
                                ii, jj = i + u - c, j + v - c
                            if 0 <= ii < h and 0 <= jj < w:
                                x[bi, k, ii, jj] += fk[u * s + v, i, j] * r[bi, k, i, j]
    return x


@pytest.mark.parametrize("s", [3, 5])
@pytest.mark.parametrize("cf", [1, 3])
@pytest.mark.parametrize("convolution", [False, True])
def test_pixel_filter_apply_and_adjoint_match_loops(s: int, cf: int, convolution: bool) -> None:
    g = _gen(9)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=F64)
    f = torch.randn(2, cf, s * s, 5, 6, generator=g, dtype=F64)
    y = ref.pixel_filter_apply(x, f, convolution)
    np.testing.assert_allclose(y.numpy(), _pixel_filter_loop(x.numpy(), f.numpy(), convolution), rtol=0, atol=1e-12)
    r = torch.randn(2, 3, 5, 6, generator=g, dtype=F64)
    adj = ref.pixel_filter_adjoint(r, f, convolution)
    np.testing.assert_allclose(adj.numpy(), _pixel_filter_adjoint_loop(r.numpy(), f.numpy(), convolution), rtol=0, atol=1e-12)
    assert _inner_rel(y, r, x, adj) < 1e-10


def test_pixel_filter_float32_adjointness_and_batch_broadcast() -> None:
    g = _gen(10)
    x = torch.randn(3, 3, 9, 9, generator=g)
    f = torch.randn(1, 1, 49, 9, 9, generator=g)
    y = ref.pixel_filter_apply(x, f)
    r = torch.randn(y.shape, generator=g)
    assert _inner_rel(y, r, x, ref.pixel_filter_adjoint(r, f)) < 1e-4
    torch.testing.assert_close(y, ref.pixel_filter_apply(x, f.expand(3, 3, -1, -1, -1)), rtol=0, atol=0)


def test_pixel_filter_gradcheck() -> None:
    g = _gen(11)
    x = torch.randn(1, 2, 4, 4, generator=g, dtype=F64, requires_grad=True)
    f = torch.randn(1, 2, 9, 4, 4, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(ref.pixel_filter_apply, (x, f, True))
    assert torch.autograd.gradcheck(ref.pixel_filter_adjoint, (x, f, False))


def test_pixel_filter_errors_name_the_problem() -> None:
    x = torch.randn(1, 3, 5, 5)
    with pytest.raises(ValueError, match="s odd"):
        ref.pixel_filter_apply(x, torch.randn(1, 1, 16, 5, 5))
    with pytest.raises(ValueError, match="Cf = 2"):
        ref.pixel_filter_apply(x, torch.randn(1, 2, 9, 5, 5))
    with pytest.raises(ValueError, match="one filter per pixel"):
        ref.pixel_filter_adjoint(x, torch.randn(1, 1, 9, 4, 5))

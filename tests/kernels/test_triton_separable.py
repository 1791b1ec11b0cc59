"""Triton separable conv3 (reflect) vs the PyTorch reference, forward and gradients.

Runs the Triton kernel in Triton's CPU interpreter (``TRITON_INTERPRET=1``; also chosen
automatically by ``restorekit.kernels.triton_common`` when no CUDA device is visible, so
the import order of other test modules does not matter). On a CUDA machine where the
kernels were already imported in compiled mode, the same tests run on the GPU.
"""

from __future__ import annotations

import os

# Interpreter mode (CPU tensors) for the kernel modules imported below. It is left set for
# the session: Triton imports some of its own modules lazily and asserts that the mode has
# not changed since `import triton`, so it must not be flipped back and forth.
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from restorekit.kernels import reference  # noqa: E402
from restorekit.kernels.triton_common import INTERPRET  # noqa: E402
from restorekit.kernels.triton_separable import separable_conv3_reflect_triton  # noqa: E402

DEVICE = "cpu" if INTERPRET else "cuda"


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def brute_force(x: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """Independent loop form: y[i,j] = Σ_uv col[u] row[v] x[ρ(i+u−1), ρ(j+v−1)]."""
    b, c, h, w = x.shape

    def rho(k: int, n: int) -> int:
        return -k if k < 0 else (2 * n - 2 - k if k >= n else k)

    y = torch.zeros_like(x)
    for i in range(h):
        for j in range(w):
            for u in range(3):
                for v in range(3):
                    y[:, :, i, j] += col[:, u] * row[:, v] * x[:, :, rho(i + u - 1, h), rho(j + v - 1, w)]
    return y


@pytest.mark.parametrize(
    ("shape", "blocks"),
    [((2, 3, 13, 17), (8, 8)),  # odd sizes, several tiles, tile seams inside the image
     ((2, 2, 13, 17), (32, 32)),  # one tile larger than the image
     ((3, 1, 2, 3), (8, 8))],  # smallest legal image: every pixel is a reflected edge
)
def test_forward_and_gradients_match_reference(shape: tuple[int, int, int, int], blocks: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(0)
    c = shape[1]
    x = torch.randn(shape, generator=gen).to(DEVICE).requires_grad_()
    row = torch.randn(c, 3, generator=gen).to(DEVICE).requires_grad_()
    col = torch.randn(c, 3, generator=gen).to(DEVICE).requires_grad_()
    y = separable_conv3_reflect_triton(x, row, col, block_h=blocks[0], block_w=blocks[1])
    y_ref = reference.separable_conv3_reflect(x, row, col)
    assert y.shape == y_ref.shape
    assert rel_err(y, y_ref) < 1e-5
    g = torch.randn(y_ref.shape, generator=gen).to(DEVICE)
    grads = torch.autograd.grad(y, (x, row, col), g)
    grads_ref = torch.autograd.grad(y_ref, (x, row, col), g)
    for name, got, want in zip(("x", "row_taps", "col_taps"), grads, grads_ref):
        assert rel_err(got, want) < 1e-5, name


def test_matches_brute_force_loops() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 5, 7, generator=gen, dtype=torch.float64)
    row = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    col = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    y = separable_conv3_reflect_triton(x.to(DEVICE), row.to(DEVICE), col.to(DEVICE), block_h=4, block_w=4)
    assert rel_err(y.cpu(), brute_force(x, row, col)) < 1e-12


def test_shared_taps_and_float64_adjoint() -> None:
    """(1, 3) taps broadcast over channels; ⟨Au, v⟩ = ⟨u, Aᵀv⟩ with Aᵀ from autograd (float64)."""
    gen = torch.Generator().manual_seed(2)
    u = torch.randn(2, 3, 9, 11, generator=gen, dtype=torch.float64).to(DEVICE).requires_grad_()
    row = torch.rand(1, 3, generator=gen, dtype=torch.float64).to(DEVICE)
    col = torch.rand(1, 3, generator=gen, dtype=torch.float64).to(DEVICE)
    au = separable_conv3_reflect_triton(u, row, col)
    assert rel_err(au, reference.separable_conv3_reflect(u, row, col)) < 1e-12
    v = torch.randn(au.shape, generator=gen, dtype=torch.float64).to(DEVICE)
    (atv,) = torch.autograd.grad(au, u, v)
    # Aᵀ independently: reflect-pad adjoint of the full transposed correlations
    want = reference.separable_conv3_transpose(v, row, col)
    assert rel_err(atv, want) < 1e-12
    lhs, rhs = (au * v).sum(), (u * atv).sum()
    assert abs(lhs - rhs) / (au.norm() * v.norm()) < 1e-10


def test_bad_input_errors_name_the_fix() -> None:
    x = torch.randn(1, 3, 8, 8, device=DEVICE)
    with pytest.raises(ValueError, match=r"row_taps must have shape \(3, 3\)"):
        separable_conv3_reflect_triton(x, torch.ones(2, 3, device=DEVICE), torch.ones(3, 3, device=DEVICE))
    with pytest.raises(ValueError, match="H >= 2 and W >= 2"):
        separable_conv3_reflect_triton(torch.randn(1, 3, 1, 8, device=DEVICE), torch.ones(3, 3, device=DEVICE),
                                       torch.ones(3, 3, device=DEVICE))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        separable_conv3_reflect_triton(torch.randn(3, 8, 8, device=DEVICE), torch.ones(3, 3, device=DEVICE),
                                       torch.ones(3, 3, device=DEVICE))


def test_identity_taps_are_identity() -> None:
    """Closed form: taps (0, 1, 0) give y = x exactly; (1, 0, 0) shifts by one with reflection."""
    x = torch.randn(2, 3, 6, 5, device=DEVICE)
    ident = torch.tensor([[0.0, 1.0, 0.0]], device=DEVICE)
    assert torch.equal(separable_conv3_reflect_triton(x, ident, ident), x)
    left = torch.tensor([[1.0, 0.0, 0.0]], device=DEVICE)
    want = F.pad(x, (1, 1, 0, 0), mode="reflect")[..., :-2]  # y[j] = x[ρ(j−1)]
    assert torch.equal(separable_conv3_reflect_triton(x, left, ident), want)

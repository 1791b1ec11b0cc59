"""Fused Triton RKR operator vs the unfused PyTorch reference, forward and all gradients.

Runs in Triton's CPU interpreter (see test_triton_separable.py for how the mode is chosen).
Tolerance: float32 relative 1e-5 (operators_and_kernels.md §6.4); float64 adjointness
1e-10 (§1).
"""

from __future__ import annotations

import os

# Interpreter mode (CPU tensors) for the kernel modules imported below. It is left set for
# the session: Triton imports some of its own modules lazily and asserts that the mode has
# not changed since `import triton`, so it must not be flipped back and forth.
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from restorekit.kernels import reference  # noqa: E402
from restorekit.kernels.triton_common import INTERPRET  # noqa: E402
from restorekit.kernels.triton_rkr import (  # noqa: E402
    backward_recursion_steps,
    backward_segment,
    rkr_apply_adjoint_triton,
    rkr_apply_triton,
    rkr_block_size,
)

DEVICE = "cpu" if INTERPRET else "cuda"


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def nrknet_atoms(r_steps: int, c: int, gen: torch.Generator) -> torch.Tensor:
    """Official FullRKR parametrisation: logits [p, q] → softmax of [p, q, p] (symmetric, sum 1)."""
    logits = torch.rand(r_steps, c, 2, generator=gen)
    return torch.softmax(torch.cat([logits, logits[..., :1]], dim=-1), dim=-1)


CASES = [
    # id, (B, C, H, W), R, block, C_out (None: plain sum), bias, shared atoms, gamma batch 1
    pytest.param((2, 3, 13, 17), 3, None, None, False, False, False, id="plain-sum-R3-one-tile"),
    pytest.param((2, 3, 13, 17), 4, 16, 3, True, False, False, id="weight+bias-R4-6-tiles"),
    pytest.param((2, 3, 11, 9), 3, 16, 4, False, True, True, id="weight-Cout4-shared-atoms-gamma-b1"),
    pytest.param((2, 3, 11, 9), 3, 8, 4, False, True, True, id="weight-Cout4-tiles-of-2px",
                 marks=pytest.mark.slow),  # 60 programs in the interpreter: ~25 s
    pytest.param((2, 3, 13, 17), 5, None, None, False, False, False, id="plain-sum-R5"),
    pytest.param((2, 1, 2, 3), 3, 8, None, False, False, False, id="2x3-image-reflect-every-step"),
    pytest.param((1, 3, 20, 24), 21, None, 3, True, False, False, id="official-R21-reference-form",
                 marks=pytest.mark.slow),  # ~7 s alone in the interpreter
]


@pytest.mark.parametrize(("shape", "r_steps", "block", "c_out", "with_bias", "shared_atoms", "gamma_b1"), CASES)
def test_forward_and_gradients_match_reference(
    shape: tuple[int, int, int, int], r_steps: int, block: int | None, c_out: int | None,
    with_bias: bool, shared_atoms: bool, gamma_b1: bool,
) -> None:
    gen = torch.Generator().manual_seed(r_steps)
    b, c, h, w = shape
    x = torch.rand(shape, generator=gen).to(DEVICE).requires_grad_()
    atoms = nrknet_atoms(r_steps, 1 if shared_atoms else c, gen)
    atoms = (atoms + 0.1 * torch.randn(atoms.shape, generator=gen)).to(DEVICE).requires_grad_()  # also non-symmetric
    gamma = torch.randn(1 if gamma_b1 else b, r_steps + 1, h, w, generator=gen).to(DEVICE).requires_grad_()
    inputs = [x, atoms, gamma]
    weight = bias = None
    if c_out is not None:
        weight = torch.randn(c_out, c * (r_steps + 1), generator=gen).to(DEVICE).requires_grad_()
        inputs.append(weight)
        if with_bias:
            bias = torch.randn(c_out, generator=gen).to(DEVICE).requires_grad_()
            inputs.append(bias)
    y = rkr_apply_triton(x, atoms, gamma, weight, bias, block=block)
    y_ref = reference.rkr_apply(x, atoms, gamma, weight, bias)
    assert y.shape == y_ref.shape == (b, c if c_out is None else c_out, h, w)
    assert rel_err(y, y_ref) < 1e-5
    g = torch.randn(y_ref.shape, generator=gen).to(DEVICE)
    grads = torch.autograd.grad(y, inputs, g)
    grads_ref = torch.autograd.grad(y_ref, inputs, g)
    for name, got, want in zip(("x", "atoms", "gamma", "weight", "bias"), grads, grads_ref):
        assert got.shape == want.shape, name
        assert rel_err(got, want) < 1e-5, name


def test_conv_weight_layout_is_accepted() -> None:
    """A (C_out, C(R+1), 1, 1) SumLayer conv weight gives the same result as its 2-D view."""
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(1, 3, 7, 9, generator=gen, device=DEVICE)
    atoms = nrknet_atoms(2, 3, gen).to(DEVICE)
    gamma = torch.randn(1, 3, 7, 9, generator=gen).to(DEVICE)
    w4 = torch.randn(3, 9, 1, 1, generator=gen).to(DEVICE)
    y4 = rkr_apply_triton(x, atoms, gamma, w4)
    assert rel_err(y4, reference.rkr_apply(x, atoms, gamma, w4[..., 0, 0])) < 1e-5


@pytest.mark.parametrize("c_out", [None, 2])
def test_adjoint_matches_reference_and_its_gradients(c_out: int | None) -> None:
    gen = torch.Generator().manual_seed(11)
    b, c, h, w, r_steps = 2, 3, 9, 13, 3
    atoms = nrknet_atoms(r_steps, c, gen).to(DEVICE).requires_grad_()
    gamma = torch.randn(b, r_steps + 1, h, w, generator=gen).to(DEVICE).requires_grad_()
    weight = None if c_out is None else torch.randn(c_out, c * (r_steps + 1), generator=gen).to(DEVICE).requires_grad_()
    r = torch.randn(b, c if c_out is None else c_out, h, w, generator=gen).to(DEVICE).requires_grad_()
    inputs = [t for t in (r, atoms, gamma, weight) if t is not None]
    z = rkr_apply_adjoint_triton(r, atoms, gamma, weight, block=16)
    z_ref = reference.rkr_apply_adjoint(r, atoms, gamma, weight)
    assert z.shape == z_ref.shape == (b, c, h, w)
    assert rel_err(z, z_ref) < 1e-5
    g = torch.randn(z_ref.shape, generator=gen).to(DEVICE)
    for name, got, want in zip(("r", "atoms", "gamma", "weight"), torch.autograd.grad(z, inputs, g),
                               torch.autograd.grad(z_ref, inputs, g)):
        assert rel_err(got, want) < 1e-5, name


def test_adjointness_float64() -> None:
    """⟨D_lin u, v⟩ = ⟨u, D_linᵀ v⟩ between the fused forward and the fused Horner adjoint."""
    gen = torch.Generator().manual_seed(3)
    b, c, h, w, r_steps = 2, 3, 10, 11, 4
    dt = torch.float64
    atoms = torch.randn(r_steps, c, 3, generator=gen, dtype=dt).to(DEVICE)
    gamma = torch.randn(b, r_steps + 1, h, w, generator=gen, dtype=dt).to(DEVICE)
    weight = torch.randn(3, c * (r_steps + 1), generator=gen, dtype=dt).to(DEVICE)
    u = torch.randn(b, c, h, w, generator=gen, dtype=dt).to(DEVICE)
    v = torch.randn(b, 3, h, w, generator=gen, dtype=dt).to(DEVICE)
    du = rkr_apply_triton(u, atoms, gamma, weight, block=16)
    dtv = rkr_apply_adjoint_triton(v, atoms, gamma, weight, block=16)
    assert abs((du * v).sum() - (u * dtv).sum()) / (du.norm() * v.norm()) < 1e-10


def test_constant_preservation_closed_form() -> None:
    """Output side: atoms summing to 1 keep a constant image constant, so with Σ_r Γ_r = 1
    (plain sum) D(1) = 1 exactly up to rounding — an exact number, not the reference."""
    gen = torch.Generator().manual_seed(5)
    r_steps = 3
    atoms = nrknet_atoms(r_steps, 3, gen).to(DEVICE)
    gamma = torch.softmax(torch.randn(2, r_steps + 1, 9, 12, generator=gen), dim=1).to(DEVICE)
    y = rkr_apply_triton(torch.ones(2, 3, 9, 12, device=DEVICE), atoms, gamma, block=16)
    assert (y - 1).abs().max().item() < 1e-5


def test_block_size_rule_and_bad_inputs() -> None:
    assert rkr_block_size(21) == 64 and rkr_block_size(4) == 32
    # without checkpoints (segment 1 or R) the backward spends R + R(R-1)/2 steps per tile
    assert backward_recursion_steps(21, 1) == backward_recursion_steps(21, 21) == 21 + 21 * 20 // 2
    assert backward_segment(21) == 5 and backward_recursion_steps(21, 5) == 95
    x = torch.rand(1, 3, 8, 8, device=DEVICE)
    atoms = torch.rand(3, 3, 3, device=DEVICE)
    gamma = torch.rand(1, 4, 8, 8, device=DEVICE)
    with pytest.raises(ValueError, match="R\\+1 = 4"):
        rkr_apply_triton(x, atoms, gamma[:, :3])
    with pytest.raises(ValueError, match=r"weight must have shape \(C_out, C\*\(R\+1\)\) = \(C_out, 12\)"):
        rkr_apply_triton(x, atoms, gamma, torch.rand(3, 11, device=DEVICE))
    with pytest.raises(ValueError, match="bias is only used together with weight"):
        rkr_apply_triton(x, atoms, gamma, None, torch.rand(3, device=DEVICE))
    with pytest.raises(ValueError, match="power of two > 2R = 6"):
        rkr_apply_triton(x, atoms, gamma, block=6)
    with pytest.raises(ValueError, match="one coefficient map per pixel"):
        rkr_apply_triton(x, atoms, torch.rand(1, 4, 7, 8, device=DEVICE))

"""Fused Triton per-pixel filters (apply + adjoint) vs the unfold/fold PyTorch reference.

Runs in Triton's CPU interpreter (see test_triton_separable.py for how the mode is chosen).
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
from restorekit.kernels.triton_pixel_filter import (  # noqa: E402
    pixel_filter_adjoint_triton,
    pixel_filter_apply_triton,
)

DEVICE = "cpu" if INTERPRET else "cuda"


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


CASES = [
    # (B, C, H, W), Cf, filter batch, s, convolution, blocks
    pytest.param((2, 3, 13, 17), 3, 2, 3, False, (8, 16), id="per-channel-corr-s3-tiles"),
    pytest.param((2, 3, 13, 17), 1, 1, 5, True, (16, 32), id="shared-conv-s5-filter-batch1"),
    pytest.param((2, 2, 7, 9), 2, 1, 3, True, (4, 8), id="per-channel-conv-tiles"),
]


@pytest.mark.parametrize("adjoint", [False, True], ids=["apply", "adjoint"])
@pytest.mark.parametrize(("shape", "cf", "fb", "s", "convolution", "blocks"), CASES)
def test_matches_reference_forward_and_gradients(
    shape: tuple[int, int, int, int], cf: int, fb: int, s: int, convolution: bool,
    blocks: tuple[int, int], adjoint: bool,
) -> None:
    gen = torch.Generator().manual_seed(s + cf)
    b, c, h, w = shape
    x = torch.randn(shape, generator=gen).to(DEVICE).requires_grad_()
    f = torch.randn(fb, cf, s * s, h, w, generator=gen).to(DEVICE).requires_grad_()
    ours, ref = ((pixel_filter_adjoint_triton, reference.pixel_filter_adjoint) if adjoint
                 else (pixel_filter_apply_triton, reference.pixel_filter_apply))
    y = ours(x, f, convolution, block_h=blocks[0], block_w=blocks[1])
    y_ref = ref(x, f, convolution)
    assert y.shape == y_ref.shape == shape
    assert rel_err(y, y_ref) < 1e-5
    g = torch.randn(shape, generator=gen).to(DEVICE)
    for name, got, want in zip(("x", "filters"), torch.autograd.grad(y, (x, f), g),
                               torch.autograd.grad(y_ref, (x, f), g)):
        assert got.shape == want.shape, name
        assert rel_err(got, want) < 1e-5, name


@pytest.mark.parametrize("convolution", [False, True])
def test_adjointness_float64(convolution: bool) -> None:
    gen = torch.Generator().manual_seed(4)
    dt = torch.float64
    u = torch.randn(2, 3, 9, 10, generator=gen, dtype=dt).to(DEVICE)
    v = torch.randn(2, 3, 9, 10, generator=gen, dtype=dt).to(DEVICE)
    f = torch.randn(2, 3, 9, 9, 10, generator=gen, dtype=dt).to(DEVICE)
    au = pixel_filter_apply_triton(u, f, convolution)
    atv = pixel_filter_adjoint_triton(v, f, convolution)
    assert abs((au * v).sum() - (u * atv).sum()) / (au.norm() * v.norm()) < 1e-10


def test_identical_taps_equal_uniform_correlation() -> None:
    """§ Numbers: the same taps at every pixel = zero-padded correlation (F.conv2d), < 1e-12."""
    gen = torch.Generator().manual_seed(6)
    dt = torch.float64
    x = torch.randn(2, 3, 8, 11, generator=gen, dtype=dt)
    k = torch.randn(3, 3, generator=gen, dtype=dt)
    f = k.reshape(1, 1, 9, 1, 1).expand(1, 1, 9, 8, 11)
    want = F.conv2d(x, k.reshape(1, 1, 3, 3).repeat(3, 1, 1, 1), padding=1, groups=3)
    got = pixel_filter_apply_triton(x.to(DEVICE), f.to(DEVICE))
    assert rel_err(got.cpu(), want) < 1e-12
    # convolution=True flips the taps: equals correlation with the flipped kernel
    want_conv = F.conv2d(x, k.flip(0, 1).reshape(1, 1, 3, 3).repeat(3, 1, 1, 1), padding=1, groups=3)
    assert rel_err(pixel_filter_apply_triton(x.to(DEVICE), f.to(DEVICE), True).cpu(), want_conv) < 1e-12


def test_bad_inputs_name_the_fix() -> None:
    x = torch.randn(1, 3, 6, 6, device=DEVICE)
    with pytest.raises(ValueError, match="s odd"):
        pixel_filter_apply_triton(x, torch.randn(1, 3, 4, 6, 6, device=DEVICE))
    with pytest.raises(ValueError, match="Cf = 2 channels"):
        pixel_filter_apply_triton(x, torch.randn(1, 2, 9, 6, 6, device=DEVICE))
    with pytest.raises(ValueError, match="one filter per pixel"):
        pixel_filter_adjoint_triton(x, torch.randn(1, 3, 9, 5, 6, device=DEVICE))

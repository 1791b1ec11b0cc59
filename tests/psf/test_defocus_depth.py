"""Depth-dependent defocus (spec §7.5): thin-lens radius, layered / per-pixel / RKR modes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from restorekit import InputError
from restorekit.psf import DepthDefocus, coc_radius, defocus_depth, disk, layer_masks, per_pixel_disk_filters


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_coc_radius_closed_form() -> None:
    # f = 50 mm, N = 2 → A = 25 mm; d_f = 2 m; pitch 10 µm; d = 1 m:
    # c = 0.025 * 0.05 * 1 / (1 * 1.95) = 6.4103e-4 m → r = c / 2e-5 = 32.051 px
    depth = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    r = coc_radius(depth, focal_length=0.05, f_number=2.0, focus_distance=2.0, pixel_pitch=1e-5)
    expected = [0.025 * 0.05 * 1.0 / (1.0 * 1.95) / 2e-5, 0.0, 0.025 * 0.05 * 2.0 / (4.0 * 1.95) / 2e-5]
    assert torch.allclose(r, torch.tensor(expected, dtype=torch.float64), rtol=1e-12)
    assert abs(expected[0] - 32.0513) < 1e-4


@pytest.mark.parametrize("mode", ["layered", "per_pixel"])
@pytest.mark.parametrize("boundary,scipy_mode", [("reflect", "mirror"), ("zeros", "constant"), ("replicate", "nearest")])
def test_constant_radius_equals_uniform_disk_convolution(mode: str, boundary: str, scipy_mode: str) -> None:
    x = torch.rand(2, 3, 14, 15, dtype=torch.float64, generator=_gen(0))
    r0 = 2.6
    y = DepthDefocus(mode=mode, boundary=boundary).apply_radius(x, torch.full((1, 1, 14, 15), r0, dtype=torch.float64))
    k = disk(r0).numpy()
    for b in range(2):
        for c in range(3):
            ref = ndi.convolve(x[b, c].numpy(), k, mode=scipy_mode)
            np.testing.assert_allclose(y[b, c].numpy(), ref, atol=1e-12, rtol=0)


def test_constant_depth_layered_interior() -> None:
    # a constant depth map through the thin lens → one radius → the uniform disk blur
    x = torch.rand(1, 1, 20, 20, dtype=torch.float64, generator=_gen(1))
    dd = DepthDefocus(focal_length=0.05, f_number=2.8, focus_distance=2.0, pixel_pitch=2e-5)
    depth = torch.full((1, 1, 20, 20), 1.2, dtype=torch.float64)
    r0 = float(dd.radius(depth)[0, 0, 0, 0])
    y = dd(x, depth)
    ref = ndi.convolve(x[0, 0].numpy(), disk(r0).numpy(), mode="constant")
    m = int(np.ceil(r0))
    np.testing.assert_allclose(y[0, 0, m:-m, m:-m].numpy(), ref[m:-m, m:-m], atol=1e-12, rtol=0)


@pytest.mark.parametrize("mode", ["layered", "per_pixel", "rkr"])
def test_rows_sum_to_one(mode: str) -> None:
    radius = torch.rand(2, 1, 12, 13, dtype=torch.float64, generator=_gen(2)) * 3.0
    ones = torch.ones(2, 3, 12, 13, dtype=torch.float64)
    y = DepthDefocus(mode=mode, levels=5).apply_radius(ones, radius)
    assert float((y - 1).abs().max()) < 1e-12
    # and the blur is really spatially varying: a Dirac-comb image differs from any single disk
    x = torch.rand(2, 3, 12, 13, dtype=torch.float64, generator=_gen(3))
    y = DepthDefocus(mode=mode, levels=5).apply_radius(x, radius)
    assert not torch.allclose(y, x)


def test_layer_masks_bilinear() -> None:
    r = torch.tensor([0.0, 1.0, 1.5, 4.0], dtype=torch.float64).reshape(1, 1, 1, 4)
    masks, radii = layer_masks(r, levels=5, r_max=4.0)
    assert radii == [0.0, 1.0, 2.0, 3.0, 4.0]
    m = masks[0, 0, :, 0].T  # (pixel, level)
    expected = torch.tensor([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float64)
    assert torch.equal(m, expected)


def test_per_pixel_filters_are_disks() -> None:
    radii = torch.tensor([0.0, 1.3, 3.0], dtype=torch.float64).reshape(1, 1, 1, 3)
    f = per_pixel_disk_filters(radii, size=7)
    for j, r in enumerate(radii.flatten().tolist()):
        ref = torch.nn.functional.pad(disk(r), [(7 - (2 * int(np.ceil(r)) + 1)) // 2] * 4)
        assert torch.allclose(f[0, 0, :, 0, j].reshape(7, 7), ref, atol=1e-15)


def test_rkr_mode_matches_disk_variance() -> None:
    # (our choice) Γ picks the recursion depth whose binomial blur has the disk's variance r²/4
    for r0 in (1.0, 2.2, 3.0):
        x = torch.zeros(1, 1, 31, 31, dtype=torch.float64)
        x[0, 0, 15, 15] = 1.0
        y = DepthDefocus(mode="rkr").apply_radius(x, torch.full((1, 1, 31, 31), r0, dtype=torch.float64))[0, 0]
        # the blur of a Dirac under a constant, symmetric operator is its (flipped) PSF
        coords = torch.arange(31, dtype=torch.float64) - 15
        assert abs(float(y.sum()) - 1) < 1e-12
        var_rows = float((y.sum(1) * coords**2).sum())
        var_cols = float((y.sum(0) * coords**2).sum())
        assert abs(var_rows - r0 * r0 / 4) < 1e-10 and abs(var_cols - r0 * r0 / 4) < 1e-10


def test_defocus_depth_function_and_errors() -> None:
    x = torch.rand(1, 3, 10, 10, dtype=torch.float64, generator=_gen(4))
    depth = 1.0 + torch.rand(1, 1, 10, 10, dtype=torch.float64, generator=_gen(5))
    y = defocus_depth(x, depth, mode="layered", levels=4, r_max=3.0)
    assert y.shape == x.shape
    with pytest.raises(InputError, match="depth"):
        defocus_depth(x, -depth)
    with pytest.raises(InputError, match="resize"):
        DepthDefocus().apply_radius(x, torch.ones(1, 1, 9, 10))
    with pytest.raises(InputError, match="mode"):
        DepthDefocus(mode="gather")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="focal length"):
        coc_radius(depth, focal_length=0.05, f_number=2.0, focus_distance=0.04, pixel_pitch=1e-5)

"""restorekit.psf generators: the "Numbers to assert" of operators_and_kernels.md §7."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from restorekit import InputError
from restorekit.psf import disk, gaussian, motion_bf, motion_gp, random_disk, random_gaussian
from restorekit.psf.disk import subsample_distances
from restorekit.psf.motion_bf import bf_trajectory
from restorekit.psf.motion_gp import matern52

GENERATORS = {
    "motion_bf": lambda seed: motion_bf(seed),
    "motion_bf_sampled_expl": lambda seed: motion_bf(seed, expl=None),
    "motion_gp": lambda seed: motion_gp(seed),
    "random_gaussian": lambda seed: random_gaussian(seed),
    "random_disk": lambda seed: random_disk(seed),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_sum_one_nonnegative_float64_deterministic(name: str) -> None:
    gen = GENERATORS[name]
    for seed in (0, 1, 2):
        k = gen(seed)
        assert k.dtype == torch.float64 and k.device.type == "cpu" and k.dim() == 2
        assert abs(float(k.sum()) - 1) < 1e-12
        assert float(k.min()) >= 0
        assert torch.equal(k, gen(seed))
        assert torch.equal(k, gen(torch.Generator().manual_seed(seed)))
    assert not torch.equal(gen(0), gen(1))


def _second_moments(k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid (row, col) and covariance in (x=col, y=row) coordinates."""
    h, w = k.shape
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    mr, mc = (k * rows).sum(), (k * cols).sum()
    dx, dy = cols - mc, rows - mr
    cov = torch.stack([torch.stack([(k * dx * dx).sum(), (k * dx * dy).sum()]), torch.stack([(k * dx * dy).sum(), (k * dy * dy).sum()])])
    return torch.stack([mr, mc]), cov


def test_bf_expl_zero_is_a_line_segment() -> None:
    for seed in range(3):
        k = motion_bf(seed, expl=0.0, fraction=1.0)
        _, cov = _second_moments(k)
        evals = torch.linalg.eigvalsh(cov)
        # a uniform segment of length 60 has variance 60²/12 = 300 along it; bilinear splatting
        # adds < 1/6 px² per axis; across it the spread is only the splat
        assert abs(float(evals[1]) - 300.0) < 3.0
        assert float(evals[0]) < 0.2
        # every pixel with mass lies within 1.5 px of the principal line through the centroid
        centre, _ = _second_moments(k)
        _, vecs = torch.linalg.eigh(cov)
        normal = vecs[:, 0]  # (x, y) direction of the smallest spread
        rows, cols = torch.nonzero(k > 0, as_tuple=True)
        dist = ((cols - centre[1]) * normal[0] + (rows - centre[0]) * normal[1]).abs()
        assert float(dist.max()) < 1.5


def test_bf_trajectory_step_length_and_canvas() -> None:
    path = bf_trajectory(3, expl=0.005)
    steps = (path[1:] - path[:-1]).abs()
    assert torch.allclose(steps, torch.full_like(steps, 60 / 1999), atol=1e-12)
    assert float(path.real.min()) >= 0 and float(path.real.max()) < 64
    assert float(path.imag.min()) >= 0 and float(path.imag.max()) < 64


def test_bf_fractions_are_cumulative() -> None:
    # shorter exposures see a prefix of the path: less support
    sizes = [int((motion_bf(5, fraction=f) > 0).sum()) for f in (0.001, 0.1, 0.5, 1.0)]
    assert sizes == sorted(sizes) and sizes[0] <= 4 < sizes[-1]


def test_disk_r0_is_dirac_and_rotation_symmetric() -> None:
    assert torch.equal(disk(0.0), torch.ones(1, 1, dtype=torch.float64))
    for r in (0.7, 1.5, 2.3, 4.0, 6.5):
        k = disk(r)
        assert k.shape == (2 * math.ceil(r) + 1,) * 2
        assert torch.equal(k, torch.rot90(k, 1)) and torch.equal(k, k.flip(0)) and torch.equal(k, k.T)


def test_disk_matches_closed_form_area_and_variance() -> None:
    r = 10.0
    k = disk(r)
    size = k.shape[0]
    # unnormalised coverage (fraction of each pixel inside the disk) sums to the area π r²
    coverage = (subsample_distances(size, 8) <= r).double().mean(dim=1)
    assert abs(float(coverage.sum()) / (math.pi * r * r) - 1) < 0.005
    assert torch.allclose(k.flatten(), coverage / coverage.sum(), atol=1e-15)
    # per-axis second moment of a uniform disk: r²/4
    _, cov = _second_moments(k)
    assert abs(float(cov[0, 0]) - r * r / 4) / (r * r / 4) < 0.01
    assert abs(float(cov[1, 1]) - r * r / 4) / (r * r / 4) < 0.01
    # a fully covered pixel has weight 1/(πr²)
    assert abs(float(k.max()) * math.pi * r * r - 1) < 0.01


@pytest.mark.parametrize("s1,s2", [(1.0, 1.0), (2.0, 1.0), (1.0, 3.0), (2.5, 1.5)])
def test_gaussian_second_moments(s1: float, s2: float) -> None:
    k = gaussian(s1, s2, angle=0.0, size=2 * math.ceil(6 * max(s1, s2)) + 1)
    _, cov = _second_moments(k)
    assert abs(float(cov[0, 0]) / s1**2 - 1) < 0.01  # x = columns
    assert abs(float(cov[1, 1]) / s2**2 - 1) < 0.01  # y = rows
    assert abs(float(cov[0, 1])) < 1e-10


def test_gaussian_rotated_covariance() -> None:
    s1, s2, theta = 3.0, 1.2, 30.0
    k = gaussian(s1, s2, angle=theta, size=41)
    _, cov = _second_moments(k)
    th = math.radians(theta)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    ref = R @ np.diag([s1**2, s2**2]) @ R.T
    np.testing.assert_allclose(cov.numpy(), ref, rtol=0, atol=0.01 * s1**2)


def test_gaussian_isotropic_and_default_size() -> None:
    k = gaussian(2.0)
    assert k.shape == (13, 13)
    assert torch.allclose(k, k.T, atol=1e-15) and torch.allclose(k, torch.rot90(k), atol=1e-15)
    # separable: equals the outer product of the normalised 1-D Gaussian
    g = torch.exp(-0.5 * (torch.arange(13, dtype=torch.float64) - 6) ** 2 / 4)
    g = g / g.sum()
    assert torch.allclose(k, g[:, None] * g[None, :], atol=1e-15)
    assert torch.equal(gaussian(0.0), torch.ones(1, 1, dtype=torch.float64))


def test_motion_gp_matern52_formula_and_centring() -> None:
    r = torch.tensor([0.0, 0.1, 0.3, 1.0], dtype=torch.float64)
    ref = [0.25**2 * (1 + math.sqrt(5) * v / 0.3 + 5 * v * v / (3 * 0.09)) * math.exp(-math.sqrt(5) * v / 0.3) for v in r.tolist()]
    assert torch.allclose(matern52(r, 0.25, 0.3), torch.tensor(ref, dtype=torch.float64), atol=1e-15)
    for seed in range(4):
        k = motion_gp(seed, size=31)
        assert k.shape == (31, 31)
        centre, _ = _second_moments(k)
        assert float((centre - 15).abs().max()) < 1.5  # mean-centred path
        assert int((k > 0).sum()) > 3  # a path, not a dot


def test_generator_errors() -> None:
    with pytest.raises(InputError):
        disk(-1.0)
    with pytest.raises(InputError):
        gaussian(-1.0)
    with pytest.raises(InputError):
        motion_bf(0, expl=-0.1)
    with pytest.raises(InputError):
        motion_bf(0, fraction=0.0)
    with pytest.raises(InputError, match="seed"):
        motion_gp("zero")  # type: ignore[arg-type]

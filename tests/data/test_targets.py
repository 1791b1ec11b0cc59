"""DRAMNet's Laplacian blur-map target (eq. 1) against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restorekit.data import laplacian_blur_map


def _lap_replicate(img: np.ndarray) -> np.ndarray:
    p = np.pad(img, 1, mode="edge")
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]


def test_identical_images_give_zero() -> None:
    x = torch.rand(2, 3, 28, 42, dtype=torch.float64)
    assert torch.equal(laplacian_blur_map(x, x.clone()), torch.zeros(2, 1, 2, 3, dtype=torch.float64))


def test_matches_hand_computed_28x28_example() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.random((3, 28, 28))
    blurry = rng.random((3, 28, 28)) * 0.5
    luma = lambda a: 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2]  # noqa: E731
    d = np.abs(_lap_replicate(luma(sharp)) - _lap_replicate(luma(blurry)))
    expected = np.array([[d[i * 14:(i + 1) * 14, j * 14:(j + 1) * 14].mean() for j in range(2)] for i in range(2)])
    got = laplacian_blur_map(torch.from_numpy(sharp)[None], torch.from_numpy(blurry)[None])[0, 0].numpy()
    assert np.abs(got - np.clip(expected, 0, 1)).max() < 1e-12


def test_clipped_to_unit_range_and_shape_checks() -> None:
    a = torch.zeros(1, 1, 14, 14, dtype=torch.float64)
    b = a.clone()
    b[..., ::2, ::2] = 1.0  # |Δ| up to 4 per pixel: the tile mean exceeds 1 before the clip
    assert float(laplacian_blur_map(a, b).max()) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        laplacian_blur_map(a, b[..., :13])


def test_bundled_roots_resolve_to_the_packaged_photographs(tmp_path) -> None:
    from restorekit.data import build_dataset
    from restorekit.data.samples import sample_images

    ds = build_dataset({"val": {"type": "synthetic", "root": "bundled:demo", "degradations": [{"type": "noise", "sigma": 0.01}], "blur_map_tile": 14}}, "val")
    assert len(ds) == len(sample_images("demo")) == 3
    s = ds[0]
    assert s["blur_map"].shape == (1, s["sharp"].shape[-2] // 14, s["sharp"].shape[-1] // 14)
    assert torch.equal(s["blur_map"], laplacian_blur_map(s["sharp"], s["blurry"]))
    with pytest.raises(Exception, match="unknown bundled image set 'nope'"):
        build_dataset({"val": {"type": "synthetic", "root": "bundled:nope", "degradations": [{"type": "noise"}]}}, "val")

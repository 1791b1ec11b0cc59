"""load_kernel / save_kernel: round trips, formats, rejections, and the Levin kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from restorekit import InputError
from restorekit.psf import load_kernel, save_kernel

from ..conftest import SHARED_DATA

LEVIN = SHARED_DATA / "levin09_kernels.npz"
# benchmarks.md §1
LEVIN_SIZES = [19, 17, 15, 27, 13, 21, 23, 23]
LEVIN_MAX = [0.1118, 0.1028, 0.0724, 0.0943, 0.1063, 0.1105, 0.0860, 0.0747]


@pytest.fixture
def kernel() -> np.ndarray:
    k = np.random.default_rng(0).random((5, 7))  # non-square: catches transposition
    return k / k.sum()


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".mat"])
def test_round_trip_exact(tmp_path: Path, kernel: np.ndarray, suffix: str) -> None:
    p = save_kernel(tmp_path / f"k{suffix}", kernel)
    out = load_kernel(p)
    assert out.dtype == np.float64 and out.shape == (5, 7)
    np.testing.assert_allclose(out, kernel, rtol=0, atol=1e-15)


def test_round_trip_png_16bit(tmp_path: Path, kernel: np.ndarray) -> None:
    p = save_kernel(tmp_path / "k.png", kernel)
    with Image.open(p) as img:
        assert img.mode.startswith("I")
    np.testing.assert_allclose(load_kernel(p), kernel, rtol=0, atol=kernel.max() / 65535)


def test_png_8bit_gray_and_rgb(tmp_path: Path) -> None:
    gray = np.array([[0, 10, 0], [20, 200, 30], [0, 5, 0]], dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_allclose(load_kernel(tmp_path / "g.png"), gray / gray.sum(), atol=1e-15)
    # a gray RGB image gives the same kernel (luma weights sum to 1)
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / "rgb.png")
    np.testing.assert_allclose(load_kernel(tmp_path / "rgb.png"), gray / gray.sum(), atol=1e-12)
    # a coloured one agrees with PIL's own 8-bit luma conversion up to its rounding
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    ref = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64)
    ours = load_kernel(tmp_path / "c.png", normalize=False)
    assert np.abs(ours - ref).max() <= 0.5 + 1e-9


def test_npz_and_mat_named_arrays(tmp_path: Path, kernel: np.ndarray) -> None:
    np.savez(tmp_path / "many.npz", a=kernel, b=kernel.T)
    np.testing.assert_allclose(load_kernel(f"{tmp_path}/many.npz:b"), kernel.T)
    np.testing.assert_allclose(load_kernel(tmp_path / "many.npz", key="a"), kernel)
    with pytest.raises(InputError, match="many.npz:NAME"):
        load_kernel(tmp_path / "many.npz")
    with pytest.raises(InputError, match="no array 'c'"):
        load_kernel(tmp_path / "many.npz", key="c")
    scipy.io.savemat(tmp_path / "m.mat", {"psf": kernel, "other": np.ones((2, 2))})
    np.testing.assert_allclose(load_kernel(f"{tmp_path}/m.mat:psf"), kernel)


@pytest.mark.parametrize(
    "array,message",
    [
        (np.array([[0.5, -0.1], [0.3, 0.3]]), "negative"),
        (np.array([[0.5, np.nan], [0.3, 0.3]]), "NaN"),
        (np.zeros((0, 3)), "empty"),
        (np.zeros((3, 3)), "all zero"),
        (np.ones((2, 3, 4)), "2-D"),
    ],
)
def test_rejects_bad_kernels(tmp_path: Path, array: np.ndarray, message: str) -> None:
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InputError, match=message):
        load_kernel(tmp_path / "bad.npy")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_kernel(tmp_path / "missing.npy")
    (tmp_path / "k.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="unsupported"):
        load_kernel(tmp_path / "k.txt")
    # a MATLAB v7.3 (HDF5) header: 116 text bytes, subsystem offset, version 0x0200, 'IM'
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .".ljust(116, b" ")
    (tmp_path / "v73.mat").write_bytes(header + b"\x00" * 8 + b"\x00\x02" + b"IM" + b"\x00" * 512)
    with pytest.raises(InputError, match=r"v7\.3.*\.npy"):
        load_kernel(tmp_path / "v73.mat")


def test_levin_kernels_load_with_documented_sizes_and_maxima() -> None:
    raw = np.load(LEVIN)
    for i, (size, kmax) in enumerate(zip(LEVIN_SIZES, LEVIN_MAX), start=1):
        k = load_kernel(f"{LEVIN}:k{i}")
        assert k.shape == (size, size)
        assert abs(k.max() - kmax) < 5e-5
        assert abs(k.sum() - 1) < 1e-12 and k.min() >= 0
        np.testing.assert_allclose(k, raw[f"k{i}"] / raw[f"k{i}"].sum(), rtol=0, atol=1e-15)  # no transpose

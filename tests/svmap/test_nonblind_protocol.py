"""The ``set3c_levin`` protocol of benchmarks/nonblind.py against specs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import convolve

from tests.conftest import ROOT, shared_data


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_nonblind", ROOT / "benchmarks" / "nonblind.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_nonblind"] = module
    spec.loader.exec_module(module)
    return module


nb = _load_benchmark()


@pytest.fixture(scope="module")
def kernels() -> dict[str, np.ndarray]:
    return nb.load_levin_kernels(shared_data())


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return nb.load_set3c(shared_data())


def test_levin_kernels_npz(kernels: dict[str, np.ndarray]) -> None:
    with np.load(shared_data() / "levin09_kernels.npz") as npz:
        assert sorted(npz.files) == [f"k{i}" for i in range(1, 9)]
    sizes = [19, 17, 15, 27, 13, 21, 23, 23]
    maxima = [0.1118, 0.1028, 0.0724, 0.0943, 0.1063, 0.1105, 0.0860, 0.0747]
    for i, (name, k) in enumerate(kernels.items()):
        assert name == f"k{i + 1}"
        assert k.shape == (sizes[i], sizes[i]) and k.dtype == np.float64
        assert abs(k.sum() - 1.0) < 1e-9 and k.min() >= 0
        assert round(float(k.max()), 4) == maxima[i]


def test_set3c_images(images: dict[str, np.ndarray]) -> None:
    assert list(images) == ["butterfly", "leaves", "starfish"]
    for x in images.values():
        assert x.shape == (256, 256, 3) and x.dtype == np.uint8


def test_sigma_values() -> None:
    assert 2.55 / 255 == pytest.approx(0.01, abs=1e-15)
    assert 7.65 / 255 == pytest.approx(0.03, abs=1e-15)


def test_dpir_exact_blur_is_integer_and_matches_scipy_uint8(images, kernels) -> None:
    x, k = images["leaves"], kernels["k4"]
    y = nb.blur_dpir_exact(x, k)
    assert y.dtype == np.float32
    y255 = y.astype(np.float64) * 255
    np.testing.assert_allclose(y255, np.round(y255), atol=1e-3)  # integer-valued before the noise
    # independent reference: scipy on the uint8 array itself (output cast to uint8 by scipy)
    ref = convolve(x, k[..., None], mode="wrap")
    assert ref.dtype == np.uint8
    diff = np.abs(np.round(y255).astype(int) - ref.astype(int))
    assert diff.max() <= 1 and np.mean(diff == 0) > 0.999


@pytest.mark.parametrize("kname", ["k1", "k4", "k8"])
def test_dpir_exact_mean_is_lower_than_float_by_about_half_a_grey_level(images, kernels, kname: str) -> None:
    for x in images.values():
        d = float(np.mean(nb.blur_float(x, kernels[kname]) - nb.blur_dpir_exact(x, kernels[kname]).astype(np.float64)))
        assert 0.3 / 255 < d < 0.7 / 255, d * 255


@pytest.mark.parametrize("variant", ["dpir_exact", "float"])
def test_noise_is_identical_across_kernels(images, kernels, variant: str) -> None:
    x = images["starfish"]
    blur = nb.blur_dpir_exact if variant == "dpir_exact" else nb.blur_float
    n1 = nb.degrade(x, kernels["k1"], 0.01, variant).astype(np.float64) - blur(x, kernels["k1"]).astype(np.float64)
    n2 = nb.degrade(x, kernels["k6"], 0.01, variant).astype(np.float64) - blur(x, kernels["k6"]).astype(np.float64)
    np.testing.assert_allclose(n1, n2, atol=1e-6)
    assert abs(n1.std() - 0.01) < 5e-4
    # the documented generators: legacy seed 0 for dpir_exact, default_rng(0) for float
    if variant == "dpir_exact":
        np.random.seed(0)
        expect = np.random.normal(0, 0.01, x.shape)
    else:
        expect = np.random.default_rng(0).normal(0.0, 0.01, x.shape)
    np.testing.assert_allclose(n1, expect, atol=1e-6)


@pytest.mark.parametrize("variant", ["dpir_exact", "float"])
def test_observation_is_not_clipped(kernels, variant: str) -> None:
    x = np.zeros((32, 32, 3), dtype=np.uint8)
    x[:, 16:] = 255
    y = nb.degrade(x, kernels["k2"], 7.65 / 255, variant)
    assert y.min() < -0.05 and y.max() > 1.05


def test_psnr_u8() -> None:
    a = np.random.default_rng(0).integers(0, 255, (8, 9, 3), dtype=np.uint8)
    assert nb.psnr_u8(a, a) == math.inf
    b = a.copy()
    b[a < 255] += 1
    b[a == 255] -= 1
    assert nb.psnr_u8(b, a) == pytest.approx(20 * math.log10(255.0), abs=1e-9)  # MSE = 1
    assert nb.to_uint8(np.array([-0.2, 0.5, 1.7, 0.50196])).tolist() == [0, 128, 255, 128]


def test_end_to_end_one_image_one_kernel(tmp_path: Path) -> None:
    rc = nb.main(["--data", str(shared_data()), "--methods", "gaussian_l2", "--kernels", "k5", "--images", "leaves",
                  "--device", "cpu", "--out", str(tmp_path)])
    assert rc == 0
    import json

    report = json.loads((tmp_path / "results.json").read_text())
    run = report["runs"][0]
    restored = run["results"]["gaussian_l2"]["psnr"]["k5"]["leaves"]
    blurry = run["blurry"]["psnr"]["k5"]["leaves"]
    assert restored > blurry + 5.0
    assert "gaussian_l2" in (tmp_path / "results.md").read_text()

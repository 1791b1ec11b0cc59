"""`restorekit deblur --kernel PSF.png` runs the non-blind pipelines end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorekit.cli import main
from restorekit.functional import conv2d
from restorekit.data.samples import sample_images
from restorekit.psf import disk

from ..conftest import ROOT


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


@pytest.fixture()
def blurred(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    sharp = np.asarray(Image.open(sample_images("demo")[0]).convert("RGB"))[40:136, 60:156]  # 96×96 crop
    k = disk(2.5).numpy()
    x = torch.from_numpy(sharp.astype(np.float64) / 255).permute(2, 0, 1)[None]
    y = conv2d(x, torch.as_tensor(k)[None, None], boundary="symmetric")
    y = y + 0.005 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    blurry = (y.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(blurry).save(tmp_path / "blurry.png")
    kimg = (k / k.max() * 255).round().astype(np.uint8)  # a PNG kernel, normalised on load
    Image.fromarray(kimg).save(tmp_path / "psf.png")
    return tmp_path / "blurry.png", tmp_path / "psf.png", sharp


@pytest.mark.parametrize("pipeline", ["hqs.yaml", "levin_irls.yaml", "svmap.small", "svmap.levin_irls"])
def test_deblur_with_kernel_improves_on_the_blurry_input(pipeline: str, blurred, tmp_path: Path) -> None:
    blurry_path, psf, sharp = blurred
    if not pipeline.endswith(".yaml"):  # a bundled name (restorekit pipelines)
        args = ["--pipeline", pipeline]
    else:
        args = ["--pipeline", str(ROOT / "pipelines" / pipeline)]
    out = tmp_path / "out"
    assert main(["deblur", str(blurry_path), "-o", str(out), "--kernel", str(psf), "--device", "cpu", *args]) == 0
    restored = np.asarray(Image.open(out / "blurry.png"))
    blurry = np.asarray(Image.open(blurry_path))
    inner = (slice(8, -8), slice(8, -8))  # away from the boundary
    gain = _psnr(restored[inner], sharp[inner]) - _psnr(blurry[inner], sharp[inner])
    assert gain > 1.0, f"{pipeline}: PSNR gain {gain:.2f} dB"


def test_deblur_without_kernel_says_how_to_give_one(blurred, tmp_path: Path, capsys) -> None:
    blurry_path, _, _ = blurred
    code = main(["deblur", str(blurry_path), "-o", str(tmp_path / "o"), "--pipeline", str(ROOT / "pipelines" / "hqs.yaml"), "--device", "cpu"])
    assert code == 1
    assert "--kernel" in capsys.readouterr().err

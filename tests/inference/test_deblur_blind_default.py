"""Issue 14 must-show: ``restorekit deblur photo.png -o out/`` with no other option improves PSNR
on held-out natural images (not the bundled ones) blurred by camera shake and by defocus.

Held-out images: Set3C (butterfly, leaves, starfish; the shared test data, in neither bundled
image set), centre crops of :data:`CROP`². Degradations (seeded, our choice; inside what the bundled
blind models train on — camera shake up to 12 px, defocus radius 0–5 px — but not the chains of
``benchmarks/bundled_models.py`` that choose the default):

* camera shake — a Boracchi–Foi trajectory (:func:`restorekit.psf.motion_bf`, path of
  :data:`MOTION_LEN` px on a 15 px canvas, full exposure, one seed per image);
* defocus — a uniform pillbox (:func:`restorekit.psf.disk`, radius :data:`DEFOCUS_RADIUS` px);

both applied as a *linear* blur (the ``valid`` part of the convolution of a larger crop, so there
is no artificial boundary), plus 0.5 % Gaussian noise, saved as 8-bit PNG. PSNR on the 8-bit
RGB files, border 0. The test runs whatever :func:`restorekit.bundled.default_pipeline` picks
(the bundled blind pipeline with the best recorded held-out PSNR) and checks that the command
says which pipeline and weights it used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorekit.cli import main

from ..conftest import SHARED_DATA

SET3C = SHARED_DATA / "set3c"
NAMES = ("butterfly", "leaves", "starfish")
CROP = 128
NOISE = 0.005
MOTION_LEN = 9.0
DEFOCUS_RADIUS = 2.5


def _kernel(kind: str, seed: int) -> torch.Tensor:
    from restorekit.psf import disk, motion_bf

    if kind == "motion":
        return motion_bf(seed=seed, canvas=15, max_len=MOTION_LEN, fraction=1.0)
    return disk(DEFOCUS_RADIUS)


def make_set(folder: Path, kind: str) -> dict[str, np.ndarray]:
    """Write ``folder/blurry/<name>.png`` (8-bit) for each Set3C image; return the sharp crops."""
    from restorekit.functional import conv2d

    (folder / "blurry").mkdir(parents=True, exist_ok=True)
    sharp_out: dict[str, np.ndarray] = {}
    for i, name in enumerate(NAMES):
        rgb = np.asarray(Image.open(SET3C / f"{name}.png").convert("RGB"), dtype=np.float64) / 255
        k = _kernel(kind, seed=40 + i)
        kh, kw = k.shape
        H, W = rgb.shape[:2]
        top, left = (H - CROP) // 2, (W - CROP) // 2
        big = rgb[top - kh // 2 : top + CROP + kh - 1 - kh // 2, left - kw // 2 : left + CROP + kw - 1 - kw // 2]
        x = torch.from_numpy(np.ascontiguousarray(big.transpose(2, 0, 1)))[None]
        y = conv2d(x, k, boundary="valid", method="fft")[0]
        gen = torch.Generator().manual_seed(500 + i + (0 if kind == "motion" else 50))
        y = (y + NOISE * torch.randn(y.shape, generator=gen, dtype=y.dtype)).clamp(0, 1)
        assert y.shape[-2:] == (CROP, CROP)
        Image.fromarray(np.round(y.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)).save(folder / "blurry" / f"{name}.png")
        sharp_out[name] = np.round(rgb[top : top + CROP, left : left + CROP] * 255).astype(np.uint8)
    return sharp_out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def run_deblur(folder: Path, kind: str, extra: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[float, float, str]:
    """Degrade, run ``restorekit deblur <folder>/blurry -o <folder>/out [extra]``; mean PSNR of
    the blurry inputs and of the outputs, and the command's stderr."""
    sharp = make_set(folder, kind)
    capsys.readouterr()
    code = main(["deblur", str(folder / "blurry"), "-o", str(folder / "out"), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    p_in, p_out = [], []
    for name, ref in sharp.items():
        blurry = np.asarray(Image.open(folder / "blurry" / f"{name}.png"))
        restored = np.asarray(Image.open(folder / "out" / f"{name}.png"))
        assert restored.shape == ref.shape and restored.dtype == np.uint8
        p_in.append(_psnr(blurry, ref))
        p_out.append(_psnr(restored, ref))
    return float(np.mean(p_in)), float(np.mean(p_out)), captured.err


@pytest.mark.parametrize("kind", ["motion", "defocus"])
def test_blind_default_beats_the_blurry_input(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    from restorekit.bundled import default_pipeline

    entry = default_pipeline("blind")  # a ConfigError here: no bundled blind pipeline has held-out numbers yet
    blurry_psnr, restored_psnr, err = run_deblur(tmp_path, kind, [], capsys)
    print(f"{kind}: blurry {blurry_psnr:.2f} dB -> {entry.name} {restored_psnr:.2f} dB")
    # the command says what it ran: "pipeline: <name> (…, the default blind pipeline …); weights: <file>"
    said = [line for line in err.splitlines() if line.startswith("pipeline: ")]
    assert said and entry.name in said[0] and "default blind pipeline" in said[0], err
    assert "weights: " in said[0] and (entry.weights is None or str(entry.weights) in said[0]), err
    assert restored_psnr > blurry_psnr, f"{kind}: {entry.name} gives {restored_psnr:.2f} dB from {blurry_psnr:.2f} dB"


def test_blind_default_on_odd_sized_16bit_gray(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No options on a 16-bit grayscale photo whose size is no multiple of anything (101×77):
    the output keeps size, channels and bit depth, and beats the blurry input."""
    from restorekit.functional import conv2d
    from restorekit.psf import motion_bf

    rgb = np.asarray(Image.open(SET3C / "leaves.png").convert("RGB"), dtype=np.float64) / 255
    gray = rgb @ np.array([0.299, 0.587, 0.114])
    k = motion_bf(seed=3, canvas=15, max_len=MOTION_LEN, fraction=1.0)
    big = torch.from_numpy(np.ascontiguousarray(gray[60 : 60 + 101 + 14, 70 : 70 + 77 + 14]))[None, None]
    y = conv2d(big, k, boundary="valid", method="fft")[0, 0]
    y = (y + NOISE * torch.randn(y.shape, generator=torch.Generator().manual_seed(7), dtype=y.dtype)).clamp(0, 1)
    sharp = gray[67 : 67 + 101, 77 : 77 + 77]
    Image.fromarray(np.round(y.numpy() * 65535).astype(np.uint16)).save(tmp_path / "g16.png")
    assert main(["deblur", str(tmp_path / "g16.png"), "-o", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    with Image.open(tmp_path / "out" / "g16.png") as im:
        assert im.mode.startswith("I;16") and im.size == (77, 101)
        out = np.asarray(im, dtype=np.float64) / 65535

    def psnr(a: np.ndarray) -> float:
        return float(10 * np.log10(1 / np.mean((a - sharp) ** 2)))

    assert psnr(out) > psnr(y.numpy())


def test_gray_image_needs_no_channels_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 3-channel pipeline on a grayscale file: grey repeated in, luma out, with a note (tiny.yaml's
    U-Net starts as the identity, so the file comes back unchanged)."""
    from tests.conftest import ROOT

    arr = np.random.default_rng(0).integers(0, 256, (33, 40), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "g.png")
    k = np.zeros((5, 5))
    k[2, 1:4] = 1 / 3
    np.save(tmp_path / "k.npy", k)
    code = main(["deblur", str(tmp_path / "g.png"), "-o", str(tmp_path / "out"), "--pipeline", str(ROOT / "pipelines" / "tiny.yaml"),
                 "--kernel", str(tmp_path / "k.npy"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "pipeline expects 3" in err
    out = np.asarray(Image.open(tmp_path / "out" / "g.png"))
    assert out.shape == arr.shape and np.abs(out.astype(int) - arr.astype(int)).max() <= 1

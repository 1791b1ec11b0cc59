"""Image reading/writing: exact 8/16-bit round trips (checked against Pillow/tifffile/imagecodecs
reading the files independently) and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from restorekit import InputError
from restorekit.inference.imageio import read_image, read_image_with_depth, write_image


def _rand(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=np.int64).astype(dtype)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_round_trip_is_exact(tmp_path: Path, suffix: str, channels: int) -> None:
    arr = _rand((13, 17, 3) if channels == 3 else (13, 17), np.uint16)
    src = tmp_path / f"src{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(src, arr)
    elif channels == 3:
        imagecodecs = pytest.importorskip("imagecodecs")
        src.write_bytes(imagecodecs.png_encode(arr))
    else:
        Image.fromarray(arr).save(src)
    img, bits = read_image_with_depth(src)
    assert bits == 16 and img.dtype == torch.float32 and img.shape == (channels, 13, 17)
    expected = arr.astype(np.float64) / 65535.0
    expected = expected[None] if channels == 1 else expected.transpose(2, 0, 1)
    assert np.abs(img.double().numpy() - expected).max() < 1e-7
    out = write_image(tmp_path / f"out{suffix}", img, bits=16)
    back = tifffile.imread(out) if suffix == ".tif" else (
        np.asarray(Image.open(out)) if channels == 1 else pytest.importorskip("imagecodecs").png_decode(out.read_bytes())
    )
    assert back.dtype == np.uint16 and np.array_equal(back, arr)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_8bit_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    arr = _rand((9, 11, 3), np.uint8, seed=1)
    src = tmp_path / f"a{suffix}"
    Image.fromarray(arr).save(src)
    img, bits = read_image_with_depth(src)
    assert bits == 8
    out = write_image(tmp_path / f"b{suffix}", img, bits=8)
    assert np.array_equal(np.asarray(Image.open(out)), arr)


def test_jpeg_and_channel_conversion(tmp_path: Path) -> None:
    arr = _rand((16, 16, 3), np.uint8, seed=2)
    write_image(tmp_path / "x.jpg", torch.from_numpy(arr.transpose(2, 0, 1) / 255.0).float())
    ref = np.asarray(Image.open(tmp_path / "x.jpg"), dtype=np.float64) / 255.0
    img = read_image(tmp_path / "x.jpg")
    assert np.abs(img.double().numpy().transpose(1, 2, 0) - ref).max() < 1e-7
    gray = read_image(tmp_path / "x.jpg", channels=1)
    luma = ref @ np.array([0.299, 0.587, 0.114])
    assert gray.shape == (1, 16, 16) and np.abs(gray[0].double().numpy() - luma).max() < 1e-5
    with pytest.raises(InputError, match="8-bit images only"):
        write_image(tmp_path / "y.jpg", img, bits=16)


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    write_image(target, torch.zeros(1, 4, 4))
    before = target.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("restorekit.inference.imageio.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, torch.ones(1, 4, 4))
    assert target.read_bytes() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # and no temp file is left


def test_corrupt_and_unsupported_images(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.png"
    good = tmp_path / "good.png"
    Image.fromarray(_rand((32, 32, 3), np.uint8)).save(good)
    bad.write_bytes(good.read_bytes()[:60])  # truncated
    with pytest.raises(InputError, match="corrupt"):
        read_image(bad)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="corrupt or not"):
        read_image(tmp_path / "text.png")
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    tifffile.imwrite(tmp_path / "i32.tif", _rand((4, 4), np.uint32).astype(np.int32))
    with pytest.raises(InputError, match="bit depth"):
        read_image(tmp_path / "i32.tif")
    tifffile.imwrite(tmp_path / "f.tif", np.full((4, 4), 2.5, np.float32))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        read_image(tmp_path / "f.tif")
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(InputError, match="unknown image type"):
        read_image(tmp_path / "x.gif")

"""``--kernel`` refuses display pictures of PSFs (issue 14, "PSF files are safe").

Real PSFs (the 8 Levin et al. kernels, restorekit's own generators, the demo's kernels) must
load with ``strict=True`` as arrays and as 8-/16-bit and grey-RGB PNGs; display pictures
(colormapped, nearest-neighbour enlarged, pasted on a white/grey background, the demo's own
``*_psf_preview.png``) and kernels larger than a quarter of the image must be refused with a
message that names the problem and the fix (the ``.npy`` beside it, ``--force-kernel``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorekit import InputError, psf
from restorekit.cli import main
from restorekit.inference.deblur import KERNEL_SIZE_FLOOR, check_kernel_fits, load_psf
from restorekit.psf.io import check_kernel_picture, load_kernel, picture_problems, sibling_array

from ..conftest import ROOT, SHARED_DATA

LEVIN = SHARED_DATA / "levin09_kernels.npz"
TINY = ROOT / "pipelines" / "tiny.yaml"


def _real_kernels() -> dict[str, np.ndarray]:
    from restorekit.demo.scenes import demo_kernel

    out: dict[str, np.ndarray] = {}
    with np.load(LEVIN) as data:
        for name in data.files:
            out[f"levin_{name}"] = np.asarray(data[name], dtype=np.float64)
    for r in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 16.0):
        out[f"disk_{r}"] = psf.disk(r).numpy()
    for s in (0.3, 0.7, 1.0, 2.0, 4.0, 8.0):
        out[f"gaussian_{s}"] = psf.gaussian(s).numpy()
    out["gaussian_aniso"] = psf.gaussian(4.0, 1.0, angle=30.0).numpy()
    for seed in range(6):
        out[f"motion_bf_{seed}"] = psf.motion_bf(seed=seed, canvas=41, max_len=25.0).numpy()
        out[f"motion_bf_small_{seed}"] = psf.motion_bf(seed=seed, canvas=15, max_len=8.0, fraction=1.0).numpy()
        out[f"motion_gp_{seed}"] = psf.motion_gp(seed=seed).numpy()
        out[f"random_disk_{seed}"] = psf.random_disk(seed=seed).numpy()
        out[f"random_gaussian_{seed}"] = psf.random_gaussian(seed=seed).numpy()
        out[f"demo_{seed}"] = demo_kernel(seed)[0, 0].numpy()
    return out


REAL = _real_kernels()


def _u8(k: np.ndarray) -> np.ndarray:
    """8-bit picture scaled so that the maximum is 255 (how PSFs are usually saved as PNG)."""
    return np.round(k / k.max() * 255).astype(np.uint8)


def _levin1() -> np.ndarray:
    with np.load(LEVIN) as data:
        return np.asarray(data["k1"], dtype=np.float64)


# --------------------------------------------------------------------------- smoke: real PSFs pass


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_psfs_pass_as_arrays_and_pngs(tmp_path: Path, name: str) -> None:
    k = REAL[name]
    assert picture_problems(k) == [] and picture_problems(_u8(k).astype(float)) == []
    np.save(tmp_path / "k.npy", k / k.sum())
    np.testing.assert_allclose(load_kernel(tmp_path / "k.npy", strict=True), k / k.sum(), atol=1e-15)
    Image.fromarray(_u8(k)).save(tmp_path / "k8.png")
    Image.fromarray(np.repeat(_u8(k)[..., None], 3, axis=2)).save(tmp_path / "rgb.png")  # grey saved as RGB
    psf.save_kernel(tmp_path / "k16.png", k)
    for f in ("k8.png", "rgb.png", "k16.png"):
        out = load_psf(tmp_path / f)
        assert out.shape == (1, 1, *k.shape) and abs(float(out.sum()) - 1) < 1e-5


def test_all_eight_levin_kernels_are_covered() -> None:
    assert sum(n.startswith("levin_") for n in REAL) == 8


@pytest.mark.parametrize(
    "kernel",
    [np.ones((9, 9)), np.pad(np.ones((3, 3)), 3), np.pad(np.ones((1, 9)), ((4, 4), (0, 0))), np.eye(11)],
    ids=["box", "box_on_zeros", "horizontal_line", "diagonal_line"],
)
def test_flat_but_real_kernels_pass(kernel: np.ndarray) -> None:
    """A uniform box or a constant line is a PSF: no background contrast, no picture levels."""
    assert picture_problems(kernel) == []


# --------------------------------------------------------------------------- display pictures refused


def _colormapped_x8(k: np.ndarray) -> np.ndarray:
    from restorekit.demo.figure import colormap

    return colormap(torch.from_numpy(k)[None, None], (8 * k.shape[0], 8 * k.shape[1]))


def _on_background(k: np.ndarray, level: int, how: str) -> np.ndarray:
    u8 = _u8(k).astype(np.int64)
    canvas = np.full((64, 64), level, dtype=np.int64)
    h, w = u8.shape
    patch = {"paste": u8, "add": level + u8, "dark": level - u8}[how]
    canvas[20 : 20 + h, 20 : 20 + w] = patch
    return np.clip(canvas, 0, 255).astype(np.uint8)


PICTURES = {
    "colormap_x8": (lambda k: _colormapped_x8(k), "colour picture"),
    "grey_x8_nearest": (lambda k: np.kron(_u8(k), np.ones((8, 8), np.uint8)), "nearest-neighbour"),
    "grey_x2_nearest": (lambda k: np.kron(_u8(k), np.ones((2, 2), np.uint8)), "nearest-neighbour"),
    "grey_resized_nearest": (lambda k: np.asarray(Image.fromarray(_u8(k)).resize((100, 90), Image.NEAREST)), "nearest-neighbour"),
    "white_background_paste": (lambda k: _on_background(k, 255, "paste"), "background"),
    "white_background_dark": (lambda k: _on_background(k, 255, "dark"), "background"),
    "grey_background": (lambda k: _on_background(k, 128, "add"), "background"),
    "dark_grey_background": (lambda k: _on_background(k, 40, "add"), "background"),
}


@pytest.mark.parametrize("name", sorted(PICTURES))
@pytest.mark.parametrize("kernel", ["levin_k1", "levin_k4", "disk_4.0", "motion_bf_2"])
def test_display_pictures_are_refused(tmp_path: Path, name: str, kernel: str) -> None:
    make, what = PICTURES[name]
    picture = make(REAL[kernel])
    Image.fromarray(picture).save(tmp_path / "pic.png")
    with pytest.raises(InputError, match=what) as info:
        load_psf(tmp_path / "pic.png")
    message = str(info.value)
    assert "display picture" in message and ".npy" in message and "--force-kernel" in message
    # what it always did: the default (non-strict) loader and --force-kernel still read it
    assert load_kernel(tmp_path / "pic.png").shape == picture.shape[:2]
    assert load_psf(tmp_path / "pic.png", force=True).shape[-2:] == picture.shape[:2]


def test_unequal_rgb_is_refused_equal_rgb_is_not(tmp_path: Path) -> None:
    u8 = _u8(_levin1())
    rgb = np.repeat(u8[..., None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "grey_rgb.png")
    assert load_psf(tmp_path / "grey_rgb.png").shape[-2:] == u8.shape
    tinted = rgb.copy()
    tinted[..., 0] = np.clip(tinted[..., 0].astype(int) + 40, 0, 255)
    Image.fromarray(tinted).save(tmp_path / "tinted.png")
    with pytest.raises(InputError, match="red, green and blue values differ"):
        load_psf(tmp_path / "tinted.png")
    # a palette PNG with colour entries is a colour picture too
    Image.fromarray(tinted).convert("P", palette=Image.ADAPTIVE).save(tmp_path / "palette.png")
    with pytest.raises(InputError, match="colour picture"):
        load_psf(tmp_path / "palette.png")


def test_enlarged_arrays_are_refused_too(tmp_path: Path) -> None:
    k = _levin1()
    np.save(tmp_path / "big.npy", np.kron(k, np.ones((4, 4))) / 16)
    with pytest.raises(InputError, match="nearest-neighbour"):
        load_psf(tmp_path / "big.npy")
    assert load_psf(tmp_path / "big.npy", force=True).shape[-2:] == (4 * k.shape[0], 4 * k.shape[1])


def test_demo_preview_is_refused_pointing_at_its_npy(tmp_path: Path) -> None:
    from restorekit.demo.scenes import demo_kernel, save_psf

    for seed in range(4):
        kernel = demo_kernel(seed)
        npy, preview = save_psf(kernel, tmp_path / f"s{seed}_psf")
        assert preview.name == f"s{seed}_psf_preview.png" and sibling_array(preview) == npy
        with pytest.raises(InputError, match="display picture") as info:
            load_psf(preview)
        assert f"'{npy}' beside it" in str(info.value)
        np.testing.assert_allclose(load_psf(npy)[0, 0].double().numpy(), kernel[0, 0].numpy(), atol=1e-6)


def test_check_kernel_picture_message_and_no_problem() -> None:
    check_kernel_picture(_levin1())  # a real PSF: nothing raised
    with pytest.raises(InputError, match=r"strict=False"):
        check_kernel_picture(np.kron(_u8(_levin1()), np.ones((3, 3))))


# --------------------------------------------------------------------------- size against the image


def test_kernel_larger_than_a_quarter_of_the_image() -> None:
    check_kernel_fits((19, 19), (76, 200))  # exactly a quarter of the height: fine
    with pytest.raises(InputError, match=r"larger than a quarter of the 75×200 image.*--force-kernel"):
        check_kernel_fits((19, 19), (75, 200))
    with pytest.raises(InputError, match="quarter"):
        check_kernel_fits((1, 41), (400, 160))  # the width counts on its own
    check_kernel_fits((KERNEL_SIZE_FLOOR, KERNEL_SIZE_FLOOR), (16, 16))  # tiny images: small kernels pass


def _photo(path: Path, size: int = 96) -> Path:
    from restorekit.data.samples import sample_images
    from restorekit.inference.imageio import read_image, write_image

    img = read_image(sample_images("demo")[0], channels=3)[..., :size, :size]
    write_image(path, img)
    return path


def test_deblur_command_refuses_and_forces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restorekit.demo.scenes import demo_kernel, save_psf

    img = _photo(tmp_path / "photo.png")
    npy, preview = save_psf(demo_kernel(0), tmp_path / "photo_psf")
    base = ["deblur", str(img), "--pipeline", str(TINY), "--device", "cpu"]
    assert main([*base, "-o", str(tmp_path / "a"), "--kernel", str(preview)]) == 1
    err = capsys.readouterr().err
    assert "display picture" in err and str(npy) in err and "--force-kernel" in err
    assert not (tmp_path / "a" / "photo.png").exists()
    assert main([*base, "-o", str(tmp_path / "b"), "--kernel", str(npy)]) == 0
    assert (tmp_path / "b" / "photo.png").is_file()
    # a real but too-large kernel (41×41 on a 96×96 image) is questioned; --force-kernel accepts it
    np.save(tmp_path / "wide.npy", psf.gaussian(6.5, size=41).numpy())
    assert main([*base, "-o", str(tmp_path / "c"), "--kernel", str(tmp_path / "wide.npy")]) == 1
    assert "larger than a quarter of the 96×96 image" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "d"), "--kernel", str(tmp_path / "wide.npy"), "--force-kernel"]) == 0
    assert main([*base, "-o", str(tmp_path / "e"), "--kernel", str(preview), "--force-kernel"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["deblur", "--help"])
    assert "--force-kernel" in capsys.readouterr().out

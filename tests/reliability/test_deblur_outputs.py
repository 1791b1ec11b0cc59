"""``restorekit deblur``: nothing lost (inputs never overwritten, unique output names),
every readable image of a batch processed, and one clear line for each ordinary mistake."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from restorekit.cli import main

from .helpers import LEVIN, TINY, checksums, error_lines, save_image, save_kernel


def _deblur(*args: str) -> list[str]:
    return ["deblur", *args, "--pipeline", str(TINY), "--device", "cpu", "--no-progress"]


def _one_error(err: str, *needles: str) -> str:
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture()
def kernel(tmp_path: Path) -> Path:
    return save_kernel(tmp_path / "k.npy", 3)


def test_output_equal_to_an_input_file_or_folder_is_refused(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_image(tmp_path / "in" / "a.png", 0)
    save_image(tmp_path / "b.png", 1)
    before = checksums(tmp_path)
    cases = [
        (["b.png"], "b.png"),                 # -o the input file itself
        (["in"], "in"),                       # -o the input folder
        (["in"], "in/restored"),              # -o inside the input folder
        (["in/a.png", "b.png"], "."),         # an output name equal to an input file (./b.png)
    ]
    for inputs, out in cases:
        code = main(_deblur(*(str(tmp_path / i) for i in inputs), "-o", str(tmp_path / out), "--kernel", str(kernel)))
        assert code == 1, (inputs, out)
        _one_error(capsys.readouterr().err, "input")
    assert checksums(tmp_path) == before
    assert not (tmp_path / "in" / "restored").exists()


def test_same_names_get_unique_outputs_and_the_command_says_so(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = save_image(tmp_path / "x" / "a.png", 0)
    b = save_image(tmp_path / "y" / "a.png", 1)
    c = save_image(tmp_path / "z" / "a.bmp", 2)
    code = main(_deblur(str(tmp_path / "x" / "a.png"), str(tmp_path / "y" / "a.png"), str(tmp_path / "z" / "a.bmp"),
                        "-o", str(tmp_path / "out"), "--kernel", str(kernel)))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outs == ["a.png", "a_1.png", "a_2.png"]
    # the identity-initialised tiny pipeline gives each input back, so each output is its own input
    got = {n: np.asarray(Image.open(tmp_path / "out" / n)) for n in outs}
    assert np.array_equal(got["a.png"], a) and np.array_equal(got["a_1.png"], b) and np.array_equal(got["a_2.png"], c)
    text = captured.out + captured.err
    assert "a_1.png" in text and "same name" in text


def test_output_path_mistakes_are_one_line(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_image(tmp_path / "in" / "a.png", 0)
    save_image(tmp_path / "in" / "b.png", 1)
    (tmp_path / "notes.txt").write_text("keep me")
    save_image(tmp_path / "file.png", 2)
    before = checksums(tmp_path)
    assert main(_deblur(str(tmp_path / "in"), "-o", str(tmp_path / "notes.txt"), "--kernel", str(kernel))) == 1
    _one_error(capsys.readouterr().err, "notes.txt", "is a file")
    assert main(_deblur(str(tmp_path / "in"), "-o", str(tmp_path / "file.png" / "sub"), "--kernel", str(kernel))) == 1
    _one_error(capsys.readouterr().err, "file.png", "is a file")
    assert checksums(tmp_path) == before


def test_output_folder_that_cannot_be_written_is_one_line(tmp_path: Path, kernel: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    save_image(tmp_path / "a.png", 0)
    real_mkdir = Path.mkdir

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        if self.name == "ro":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    assert main(_deblur(str(tmp_path / "a.png"), "-o", str(tmp_path / "ro"), "--kernel", str(kernel))) == 1
    _one_error(capsys.readouterr().err, "Permission denied", "ro")


def test_a_folder_with_unreadable_images_processes_every_readable_one(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_image(tmp_path / "in" / "a.png", 0)
    (tmp_path / "in" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    save_image(tmp_path / "in" / "c.png", 2)
    (tmp_path / "in" / "d.jpg").write_text("not a jpeg")
    code = main(_deblur(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--kernel", str(kernel)))
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]
    err = captured.err
    assert "b.png" in err and "d.jpg" in err and "corrupt" in err
    _one_error(err, "2 of 4")
    assert err.index("b.png") < err.index("error:")  # the failures are listed before the summary


def test_disk_full_while_writing_names_what_was_kept(tmp_path: Path, kernel: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from restorekit.inference import imageio

    for i in range(3):
        save_image(tmp_path / "in" / f"{i}.png", i)
    real = imageio._encode
    calls = {"n": 0}

    def encode(*args: object, **kwargs: object) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    monkeypatch.setattr(imageio, "_encode", encode)
    assert main(_deblur(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--kernel", str(kernel))) == 1
    line = _one_error(capsys.readouterr().err, "no space left on device")
    assert "1 of 3" in line and "0.png" in line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png"]  # no partial file


def test_nan_input_is_an_error_unless_repaired_explicitly(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arr = np.random.default_rng(0).random((20, 20)).astype(np.float32)
    arr[3, 5] = np.nan
    arr[7, 2] = np.inf
    tifffile.imwrite(tmp_path / "nan.tif", arr)
    assert main(_deblur(str(tmp_path / "nan.tif"), "-o", str(tmp_path / "out"), "--kernel", str(kernel))) == 1
    _one_error(capsys.readouterr().err, "nan.tif", "--repair-nonfinite")
    assert main(_deblur(str(tmp_path / "nan.tif"), "-o", str(tmp_path / "out"), "--kernel", str(kernel), "--repair-nonfinite",
                        "--channels", "3")) == 0
    captured = capsys.readouterr()
    assert "repaired 2 non-finite" in captured.err
    out = tifffile.imread(tmp_path / "out" / "nan.tif")
    assert out.shape == (20, 20) and out.dtype == np.uint16  # float input → 16-bit output
    from restorekit.inference.imageio import repair_nonfinite

    fixed, n = repair_nonfinite(arr)
    assert n == 2 and np.isfinite(fixed).all() and fixed[7, 2] == 1.0
    neighbours = [arr[y, x] for y in (2, 3, 4) for x in (4, 5, 6) if (y, x) != (3, 5)]
    assert fixed[3, 5] == pytest.approx(np.mean(neighbours), abs=1e-6)  # the mean of its 8 neighbours


def test_nan_output_is_an_error_naming_the_image(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restorekit import load_pipeline, save_weights

    pipe = load_pipeline(TINY)
    with torch.no_grad():
        for p in pipe.parameters():
            p.fill_(3e38)  # finite weights whose output overflows
    save_weights(pipe, tmp_path / "huge.safetensors")
    save_image(tmp_path / "a.png", 0)
    save_image(tmp_path / "big.png", 1, size=(40, 40))
    code = main(_deblur(str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--kernel", str(kernel),
                        "--weights", str(tmp_path / "huge.safetensors")))
    assert code == 1
    err = capsys.readouterr().err
    assert "a.png" in err and "NaN or Inf" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "a.png").exists()
    code = main(_deblur(str(tmp_path / "big.png"), "-o", str(tmp_path / "out"), "--kernel", str(kernel),
                        "--weights", str(tmp_path / "huge.safetensors"), "--tile", "16", "--overlap", "4"))
    assert code == 1 and "tile at" in capsys.readouterr().err


def test_image_or_tile_smaller_than_the_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k9 = save_kernel(tmp_path / "k9.npy", 9)
    save_image(tmp_path / "one.png", 0, size=(1, 1))
    save_image(tmp_path / "a.png", 1, size=(32, 32))
    base = ["deblur", "--pipeline", str(LEVIN), "--device", "cpu", "--no-progress", "--kernel", str(k9)]
    assert main([*base, str(tmp_path / "one.png"), "-o", str(tmp_path / "o1")]) == 1
    _one_error(capsys.readouterr().err, "one.png", "smaller than the kernel")
    assert main([*base, str(tmp_path / "a.png"), "-o", str(tmp_path / "o2"), "--tile", "4", "--overlap", "0"]) == 1
    _one_error(capsys.readouterr().err, "--tile")


def test_rgba_alpha_is_dropped_with_a_warning(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgba = save_image(tmp_path / "rgba.png", 0, channels=4)
    assert main(_deblur(str(tmp_path / "rgba.png"), "-o", str(tmp_path / "out"), "--kernel", str(kernel))) == 0
    assert "alpha" in capsys.readouterr().err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "rgba.png")), rgba[..., :3])


def test_tiled_deblur_shows_a_progress_bar_unless_disabled(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_image(tmp_path / "big.png", 0, size=(48, 64))
    args = ["deblur", str(tmp_path / "big.png"), "-o", str(tmp_path / "out"), "--pipeline", str(TINY), "--device", "cpu",
            "--kernel", str(kernel), "--tile", "16", "--overlap", "4"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "tiles" in err and "big.png" in err
    assert main([*args, "--no-progress"]) == 0
    assert "tiles" not in capsys.readouterr().err

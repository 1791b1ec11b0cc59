"""Ordinary mistakes give one clear ``error:`` line (no traceback); ``--debug`` (alias
``--traceback``) shows the traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from restorekit.cli import main

from .helpers import TINY, error_lines, save_image, save_kernel


def _one_error(err: str, *needles: str) -> str:
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    save_image(tmp_path / "a.png", 0)
    return tmp_path / "a.png"


def _deblur(image: Path, out: Path, *extra: str) -> list[str]:
    return ["deblur", str(image), "-o", str(out), "--pipeline", str(TINY), "--device", "cpu", "--no-progress", *extra]


def test_weights_with_matching_keys_but_other_shapes(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restorekit import load_pipeline, save_weights

    save_weights(load_pipeline(TINY, overrides=["model.decoder.width=4"]), tmp_path / "w4.safetensors")
    k = save_kernel(tmp_path / "k.npy", 3)
    assert main(_deblur(image, tmp_path / "o", "--kernel", str(k), "--weights", str(tmp_path / "w4.safetensors"))) == 1
    line = _one_error(capsys.readouterr().err, "does not fit the pipeline", "in the file but")
    assert "(4," in line and "(8," in line  # both shapes


def test_pth_weights_say_how_to_convert(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pth")
    k = save_kernel(tmp_path / "k.npy", 3)
    assert main(_deblur(image, tmp_path / "o", "--kernel", str(k), "--weights", str(tmp_path / "model.pth"))) == 1
    _one_error(capsys.readouterr().err, "restorekit weights convert")


@pytest.mark.parametrize("name,content", [
    ("k.npy", b"garbage, not an array"),
    ("k.png", b"garbage, not an image"),
    ("k.npz", b"garbage, not a zip"),
    ("k.mat", b"garbage, not MATLAB"),
    ("k.txt", b"0 1 0"),
    ("obj.npy", None),
])
def test_kernel_files_that_are_not_images_or_arrays(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str],
                                                    name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is None:
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(content)
    assert main(_deblur(image, tmp_path / "o", "--kernel", str(path))) == 1
    _one_error(capsys.readouterr().err, name)


def test_non_utf8_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\nmodel: {decoder: {type: standard.unet}}\n".encode("latin-1"))
    assert main(["config", "validate", str(path)]) == 1
    _one_error(capsys.readouterr().err, "UTF-8", "line 1")


def test_debug_shows_the_traceback_and_traceback_is_an_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    for flag_first in (True, False):
        for flag in ("--debug", "--traceback"):
            argv = [flag, "config", "validate", str(missing)] if flag_first else ["config", "validate", str(missing), flag]
            with pytest.raises(Exception, match="does not exist"):
                main(argv)
    assert main(["config", "validate", str(missing)]) == 1
    _one_error(capsys.readouterr().err, "does not exist")


def test_an_unexpected_exception_is_one_line_pointing_at_debug(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import restorekit.cli as cli

    def boom(args: object) -> int:
        raise RuntimeError("something internal broke\nsecond line")

    monkeypatch.setattr(cli, "_cmd_plugins", boom)
    assert main(["plugins"]) == 70
    _one_error(capsys.readouterr().err, "RuntimeError", "something internal broke", "--debug")


def test_eval_save_pointing_at_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(2):
        save_image(tmp_path / "data" / "blur" / f"{i}.png", i, size=(16, 16))
        save_image(tmp_path / "data" / "sharp" / f"{i}.png", 10 + i, size=(16, 16))
    cfg = yaml.safe_load(TINY.read_text())
    cfg["data"] = {"test": {"type": "paired", "root": str(tmp_path / "data")}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    k = save_kernel(tmp_path / "k.npy", 3)
    (tmp_path / "results.txt").write_text("keep")
    code = main(["eval", str(tmp_path / "cfg.yaml"), "--device", "cpu", "--save", str(tmp_path / "results.txt"),
                 "-o", f"model.blur_estimator.path={k}"])
    assert code == 1
    _one_error(capsys.readouterr().err, "--save", "results.txt", "is a file")
    assert (tmp_path / "results.txt").read_text() == "keep"

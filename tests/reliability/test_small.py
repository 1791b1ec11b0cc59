"""Small ones: unknown plugin names in the environment switches, bit-rot in weights files,
non-finite outputs in ``eval``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import restorekit
from restorekit import InputError
from restorekit.errors import RestorekitWarning
from restorekit.plugin_host import reset_host

from .helpers import TINY


@pytest.fixture()
def fresh_host():
    reset_host()
    yield
    reset_host()


def test_unknown_names_in_the_plugin_switches_are_warned_about(monkeypatch: pytest.MonkeyPatch, fresh_host: None) -> None:
    monkeypatch.setenv("RESTOREKIT_PLUGINS", "standard,nrknet,svmapp")
    monkeypatch.setenv("RESTOREKIT_DISABLE_PLUGINS", "nosuch")
    with pytest.warns(RestorekitWarning) as record:
        host = restorekit.get_host()
    text = " ".join(str(w.message) for w in record)
    assert "RESTOREKIT_PLUGINS" in text and "'svmapp'" in text and "did you mean 'svmap'" in text
    assert "RESTOREKIT_DISABLE_PLUGINS" in text and "'nosuch'" in text
    assert host.plugins["standard"].status == "ok"


def test_cli_prints_the_plugin_warning_on_one_line(monkeypatch: pytest.MonkeyPatch, fresh_host: None, capsys: pytest.CaptureFixture[str]) -> None:
    from restorekit.cli import main

    monkeypatch.setenv("RESTOREKIT_DISABLE_PLUGINS", "dramnett")
    assert main(["plugins"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "dramnett" in line]
    assert len(lines) == 1 and lines[0].startswith("warning:") and "did you mean 'dramnet'" in lines[0]


def test_bit_rot_in_a_weights_file_is_detected(tmp_path: Path) -> None:
    pipe = restorekit.load_pipeline(TINY)
    path = restorekit.save_weights(pipe, tmp_path / "w.safetensors")
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01  # a finite change in the last tensor's bytes
    (tmp_path / "rot.safetensors").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="checksum"):
        restorekit.load_weights(restorekit.load_pipeline(TINY), tmp_path / "rot.safetensors")
    restorekit.load_weights(restorekit.load_pipeline(TINY), path)  # the intact file loads


def test_eval_names_the_image_with_a_non_finite_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from restorekit.inference import commands

    class Data:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> dict:
            x = torch.full((3, 16, 16), 0.5)
            if i == 1:
                x[0, 2, 2] = float("nan")
            return {"blurry": x, "sharp": x, "name": f"img{i}"}

    class Identity(torch.nn.Module):
        def forward(self, batch: dict) -> object:
            return type("Out", (), {"restored": batch["blurry"]})()

    monkeypatch.setattr("restorekit.data.build_dataset", lambda *a, **k: Data())
    with pytest.raises(InputError, match="img1.*NaN or Inf"):
        commands.evaluate({"data": {"test": {}}}, Identity())


def test_a_safetensors_header_length_ending_in_0x80_is_not_taken_for_a_pickle(tmp_path: Path) -> None:
    """The first byte of a safetensors file is the low byte of its header length; 0x80 is
    also how a pickle starts (the bundled svmap weights have such a header)."""
    pipe = restorekit.load_pipeline(TINY)
    raw = restorekit.save_weights(pipe, tmp_path / "w.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    size = next(m for m in range(0x80, 1 << 20, 0x100) if m >= n)  # low byte 0x80, a multiple of 8
    padded = size.to_bytes(8, "little") + raw[8 : 8 + n] + b" " * (size - n) + raw[8 + n :]
    (tmp_path / "p.safetensors").write_bytes(padded)
    assert padded[0] == 0x80
    restorekit.load_weights(restorekit.load_pipeline(TINY), tmp_path / "p.safetensors")
    torch.save({"w": torch.ones(1)}, tmp_path / "real.pth")  # a real pickle is still refused
    with pytest.raises(InputError, match="restorekit weights convert"):
        restorekit.load_weights(restorekit.load_pipeline(TINY), tmp_path / "real.pth")

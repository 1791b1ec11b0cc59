"""Path escape: list files and dataset names can never make restorekit read or write outside
the folders it was given (issue 13, "Path escape")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from restorekit import InputError
from restorekit.cli import main
from restorekit.data import build_dataset
from restorekit.inference.paths import safe_join

from .helpers import TINY, checksums, save_image, save_kernel


def _realblur(root: Path, lines: list[str]) -> Path:
    save_image(root / "scene1" / "gt" / "gt_1.png", 1, size=(16, 16))
    save_image(root / "scene1" / "blur" / "blur_1.png", 2, size=(16, 16))
    (root / "RealBlur_J_test_list.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("entry", ["../outside/x.png", "scene1/../../outside/x.png", "ABS"])
def test_realblur_list_entries_leaving_the_root_are_refused_naming_the_line(tmp_path: Path, entry: str) -> None:
    outside = tmp_path / "outside"
    save_image(outside / "x.png", 3, size=(16, 16))
    if entry == "ABS":
        entry = str(outside / "x.png")
    root = _realblur(tmp_path / "rb", ["scene1/gt/gt_1.png scene1/blur/blur_1.png", f"scene1/gt/gt_1.png {entry}"])
    with pytest.raises(InputError) as err:
        build_dataset({"test": {"type": "realblur", "root": str(root)}}, "test")
    msg = str(err.value)
    assert "RealBlur_J_test_list.txt:2" in msg and "outside the dataset root" in msg and entry in msg


def test_realblur_entries_with_dotdot_inside_the_root_resolve_and_names_are_clean(tmp_path: Path) -> None:
    root = _realblur(tmp_path / "rb", ["scene1/gt/../gt/gt_1.png ./scene1/blur/blur_1.png", f"{tmp_path / 'rb' / 'scene1/gt/gt_1.png'} scene1/blur/blur_1.png"])
    ds = build_dataset({"test": {"type": "realblur", "root": str(root)}}, "test")
    assert len(ds) == 2
    names = [ds[i]["name"] for i in range(2)]
    assert names == ["scene1/blur/blur_1", "scene1/blur/blur_1"]


def test_safe_join_refuses_escapes(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a/b.png") == (tmp_path / "a" / "b.png").resolve()
    for bad in ("../x.png", "a/../../x.png", "/etc/passwd", ""):
        with pytest.raises(InputError, match="outside|empty"):
            safe_join(tmp_path, bad)
    (tmp_path / "link").symlink_to(tmp_path.parent)
    with pytest.raises(InputError, match="outside"):
        safe_join(tmp_path, "link/x.png")


class _EscapingDataset:
    """A dataset whose sample names try to leave the --save folder."""

    def __init__(self, names: list[str]) -> None:
        import torch

        self.names = names
        self.blurry = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict:
        import torch

        k = torch.zeros(1, 3, 3)
        k[0, 1, 1] = 1.0
        return {"blurry": self.blurry, "sharp": self.blurry, "kernel": k, "name": self.names[i]}


@pytest.mark.parametrize("name", ["../outside/victim", "sub/../../outside/victim", "ABS"])
def test_eval_save_never_writes_outside_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from restorekit import load_pipeline
    from restorekit.inference import commands

    victim = tmp_path / "outside" / "victim.png"
    save_image(victim, 9, size=(16, 16))
    if name == "ABS":
        name = str(tmp_path / "outside" / "victim")
    before = checksums(tmp_path, exclude=[tmp_path / "saved"])
    monkeypatch.setattr("restorekit.data.build_dataset", lambda *a, **k: _EscapingDataset(["ok", name]))
    pipe = load_pipeline(TINY)
    with pytest.raises(InputError, match="outside"):
        commands.evaluate({"data": {"test": {}}}, pipe, save=tmp_path / "saved")
    assert checksums(tmp_path, exclude=[tmp_path / "saved"]) == before


def test_eval_save_with_a_realblur_list_escaping_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "outside" / "x.png"
    save_image(victim, 3, size=(16, 16))
    root = _realblur(tmp_path / "rb", ["scene1/gt/gt_1.png ../outside/x.png"])
    cfg = yaml.safe_load(TINY.read_text())
    cfg["data"] = {"test": {"type": "realblur", "root": str(root)}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    k = save_kernel(tmp_path / "k.npy", 3)
    before = checksums(tmp_path, exclude=[tmp_path / "saved"])
    code = main(["eval", str(tmp_path / "cfg.yaml"), "--device", "cpu", "--save", str(tmp_path / "saved"),
                 "-o", f"model.blur_estimator.path={k}"])
    err = capsys.readouterr().err
    assert code == 1 and "outside the dataset root" in err and "Traceback" not in err
    assert checksums(tmp_path, exclude=[tmp_path / "saved"]) == before

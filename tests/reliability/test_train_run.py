"""Training never mixes or loses runs: a used run folder needs --resume/--overwrite, a resume
leaves no duplicate metrics rows and no debris, and a full disk names what was kept."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from restorekit import ConfigError, RestorekitError
from restorekit.cli import main
from restorekit.engine import checkpoint as ckpt
from restorekit.engine.trainer import Trainer

from ..engine.toys import BoxBlurPairs, save_pairs
from .helpers import error_lines


def _cfg(**train: Any) -> dict[str, Any]:
    return {
        "model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1}},
        "losses": [{"type": "standard.l1"}],
        "train": {"batch_size": 4, "lr": 1e-3, "log_every": 1, "iterations": 6, "checkpoint_every": 2, **train},
    }


def _trainer(out: Path, **kwargs: Any) -> Trainer:
    cfg = kwargs.pop("cfg", None) or _cfg()
    return Trainer(cfg, out_dir=out, train_dataset=BoxBlurPairs(8), progress=False, **kwargs)


def _rows(out: Path) -> list[tuple[str, int]]:
    return [(r["kind"], r["iteration"]) for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]


def test_a_used_run_folder_needs_resume_or_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = save_pairs(tmp_path / "data", 8, seed=0)
    cfg = _cfg(iterations=2)
    cfg["data"] = {"train": {"type": "paired", "root": str(data)}}
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))
    run = tmp_path / "run"
    argv = ["train", str(tmp_path / "cfg.yaml"), "--out", str(run), "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    first = (run / "model.safetensors").read_bytes()
    assert main(argv) == 1
    err = capsys.readouterr().err
    line = error_lines(err)[0]
    assert "Traceback" not in err and "--resume auto" in line and "--overwrite" in line and "--out" in line
    assert (run / "model.safetensors").read_bytes() == first  # untouched
    (run / "notes.txt").write_text("mine")
    assert main([*argv, "--overwrite", "-o", "train.lr=5e-3"]) == 0
    assert (run / "notes.txt").read_text() == "mine"  # only the run's own files are replaced
    assert _rows(run) == [("train", 1), ("train", 2)]
    assert (run / "model.safetensors").read_bytes() != first


def test_trainer_api_refuses_a_used_folder_too(tmp_path: Path) -> None:
    _trainer(tmp_path / "run").fit()
    with pytest.raises(ConfigError, match="--resume auto"):
        _trainer(tmp_path / "run")
    _trainer(tmp_path / "run", overwrite=True)  # explicit


def test_resume_leaves_no_duplicate_metrics_rows_and_no_debris(tmp_path: Path) -> None:
    out = tmp_path / "run"
    t = _trainer(out, stop_after=5)
    t.fit()
    # the checkpoint of iteration 4 survives; 5 is lost as if the process died after logging it
    import shutil

    shutil.rmtree(out / "checkpoints" / "iter_00000005")
    (out / "checkpoints" / ".tmp-iter_00000006-deadbeef").mkdir()
    (out / "checkpoints" / ".del-iter_00000002-cafe").mkdir()
    (out / "checkpoints" / ".old-iter_00000004-feed").mkdir()
    assert ("train", 5) in _rows(out)
    resumed = _trainer(out, resume="auto")
    assert resumed.iteration == 4
    resumed.fit()
    rows = _rows(out)
    assert len(rows) == len(set(rows)) and [i for k, i in rows if k == "train"] == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["iter_00000002", "iter_00000004", "iter_00000006"]


def _enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_during_training_names_what_was_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ckpt.torch.save

    def full_at_4(obj: Any, f: Any, *a: Any, **k: Any) -> None:
        if isinstance(obj, dict) and obj.get("iteration") == 4:
            _enospc()
        real(obj, f, *a, **k)

    monkeypatch.setattr(ckpt.torch, "save", full_at_4)
    with pytest.raises(RestorekitError) as err:
        _trainer(tmp_path / "run").fit()
    msg = str(err.value)
    assert "no space left on device" in msg and "iter_00000002" in msg and "--resume auto" in msg
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["iter_00000002"]


def test_disk_full_writing_the_final_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ckpt.save_file

    def full_for_final(tensors: Any, filename: str, metadata: Any = None) -> None:
        if "checkpoints" not in str(filename):
            _enospc()
        real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(ckpt, "save_file", full_for_final)
    with pytest.raises(RestorekitError, match=r"no space left on device.*model.safetensors.*iter_00000006"):
        _trainer(tmp_path / "run").fit()
    assert not (tmp_path / "run" / "model.safetensors").exists()
    monkeypatch.undo()
    _trainer(tmp_path / "run", resume="auto").fit()  # space freed: the final weights are written
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_disk_full_through_the_cli_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = save_pairs(tmp_path / "data", 8, seed=0)
    cfg = _cfg(iterations=2)
    cfg["data"] = {"train": {"type": "paired", "root": str(data)}}
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))
    monkeypatch.setattr(ckpt.torch, "save", _enospc)
    code = main(["train", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run"), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert len(error_lines(err)) == 1 and "no space left on device" in error_lines(err)[0]


def test_overwrite_and_resume_contradict(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="contradict"):
        _trainer(tmp_path / "run", resume="auto", overwrite=True)

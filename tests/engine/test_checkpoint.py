"""Atomic checkpoint writing: an interrupted write never shows up to ``--resume auto``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from restorekit import InputError
from restorekit.engine import checkpoint as ckpt


def _write(root: Path, iteration: int, value: float = 1.0) -> Path:
    weights = {"decoder.w": torch.full((2, 3), value), "decoder.b": torch.arange(3.0)}
    state = {"iteration": iteration, "rng": (3, (1, 2), None), "t": torch.ones(2)}
    return ckpt.write_checkpoint(root, iteration, weights, state, {"model": {"decoder": {"type": "x"}}}, {"standard": "0.1"})


def _digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def test_round_trip(tmp_path: Path):
    path = _write(tmp_path, 3, value=2.5)
    assert path.name == "iter_00000003"
    assert sorted(p.name for p in path.iterdir()) == sorted([*ckpt.REQUIRED_FILES, ckpt.MANIFEST])
    assert torch.equal(load_file(str(path / "model.safetensors"))["decoder.w"], torch.full((2, 3), 2.5))
    weights, state, ema = ckpt.load_checkpoint(path)  # state.pt loads with weights_only=True
    assert state["iteration"] == 3 and ema is None and torch.equal(weights["decoder.b"], torch.arange(3.0))
    assert "type: x" in (path / "config.yaml").read_text()
    assert ckpt.find_latest(tmp_path) == path


def _failing_torch_save(obj, f, *args, **kwargs):
    Path(f).write_bytes(b"half a state file")  # bytes hit the disk, then the process "dies"
    raise OSError("simulated crash while writing state.pt")


def test_interrupted_write_leaves_previous_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    good = _write(tmp_path, 1)
    before = _digest(good)
    monkeypatch.setattr(ckpt.torch, "save", _failing_torch_save)
    with pytest.raises(OSError, match="simulated crash"):
        _write(tmp_path, 2, value=9.0)
    # overwriting the same iteration fails too, and the old copy survives
    with pytest.raises(OSError, match="simulated crash"):
        _write(tmp_path, 1, value=9.0)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["iter_00000001"], "no partial or temporary checkpoint is left"
    assert _digest(good) == before
    assert ckpt.find_latest(tmp_path) == good
    assert ckpt.resolve_resume("auto", tmp_path) == good


def test_auto_resume_ignores_debris_of_a_killed_writer(tmp_path: Path):
    good = _write(tmp_path, 4)
    # what `kill -9` mid-write could leave: a temporary directory, never renamed ...
    tmp = tmp_path / ".tmp-iter_00000008-deadbeef"
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"partial")
    # ... and a hand-made directory with the final name but missing files
    broken = tmp_path / "iter_00000009"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"partial")
    assert ckpt.find_latest(tmp_path) == good
    with pytest.raises(InputError, match="lacks state.pt, config.yaml, plugins.json"):
        ckpt.resolve_resume(str(broken), tmp_path)


def test_resume_arguments(tmp_path: Path):
    assert ckpt.resolve_resume(None, tmp_path) is None
    assert ckpt.resolve_resume("auto", tmp_path / "nothing-here") is None  # auto on a fresh run starts fresh
    with pytest.raises(InputError, match="no such checkpoint directory"):
        ckpt.resolve_resume(str(tmp_path / "missing"), tmp_path)
    a, b = _write(tmp_path / "checkpoints", 1), _write(tmp_path / "checkpoints", 12)
    assert ckpt.resolve_resume(str(tmp_path), tmp_path) == b  # a run directory: its newest checkpoint
    assert ckpt.resolve_resume(str(a), tmp_path) == a


def test_prune_keeps_newest(tmp_path: Path):
    for it in (1, 2, 3, 4):
        _write(tmp_path, it)
    ckpt.prune(tmp_path, 2)
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["iter_00000003", "iter_00000004"]


def test_write_weights_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "model.safetensors"
    ckpt.write_weights(target, {"w": torch.ones(2)})

    def failing(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", failing)
    with pytest.raises(OSError, match="disk full"):
        ckpt.write_weights(target, {"w": torch.zeros(2)})
    assert torch.equal(load_file(str(target))["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]

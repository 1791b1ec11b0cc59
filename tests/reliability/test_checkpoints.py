"""A checkpoint is complete only when its files verify against the manifest written last;
``--resume auto`` falls back to the newest verified one and names what it skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restorekit import InputError
from restorekit.engine import checkpoint as ckpt


def _write(root: Path, iteration: int) -> Path:
    weights = {"decoder.w": torch.full((2, 3), float(iteration))}
    state = {"iteration": iteration, "t": torch.ones(2)}
    return ckpt.write_checkpoint(root, iteration, weights, state, {"model": {"decoder": {"type": "x"}}}, {"standard": "0.1"})


def test_manifest_records_size_and_sha256_of_every_file(tmp_path: Path) -> None:
    import hashlib

    path = _write(tmp_path, 1)
    manifest = json.loads((path / ckpt.MANIFEST).read_text())
    files = manifest["files"]
    assert set(files) == set(ckpt.REQUIRED_FILES)
    for name, entry in files.items():
        data = (path / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert ckpt.verify_checkpoint(path) is None


@pytest.mark.parametrize("damage", ["truncate_state", "flip_weights", "drop_manifest", "drop_file"])
def test_auto_resume_falls_back_to_the_newest_verified_checkpoint(tmp_path: Path, damage: str) -> None:
    good = _write(tmp_path, 2)
    bad = _write(tmp_path, 4)
    if damage == "truncate_state":
        data = (bad / "state.pt").read_bytes()
        (bad / "state.pt").write_bytes(data[: len(data) // 2])
        why = "state.pt"
    elif damage == "flip_weights":
        raw = bytearray((bad / "model.safetensors").read_bytes())
        raw[-3] ^= 0xFF
        (bad / "model.safetensors").write_bytes(bytes(raw))
        why = "checksum"
    elif damage == "drop_manifest":
        (bad / ckpt.MANIFEST).unlink()
        why = "manifest"
    else:
        (bad / "plugins.json").unlink()
        why = "plugins.json"
    choice = ckpt.choose_resume("auto", tmp_path)
    assert choice.path == good
    assert [p for p, _ in choice.skipped] == [bad]
    assert why in choice.skipped[0][1]
    with pytest.raises(InputError, match=why):
        ckpt.resolve_resume(str(bad), tmp_path)  # an explicit path is never silently replaced


def test_resume_removes_leftover_temporary_folders(tmp_path: Path) -> None:
    good = _write(tmp_path, 2)
    for name in (".tmp-iter_00000004-dead", ".del-iter_00000001-beef", ".old-iter_00000002-feed"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"x")
    choice = ckpt.choose_resume("auto", tmp_path)
    assert choice.path == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_00000002"]
    assert sorted(choice.removed) == [".del-iter_00000001-beef", ".old-iter_00000002-feed", ".tmp-iter_00000004-dead"]


def test_loading_a_corrupt_state_is_an_input_error(tmp_path: Path) -> None:
    bad = _write(tmp_path, 3)
    (bad / "state.pt").write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="state.pt"):
        ckpt.load_checkpoint(bad)


def test_every_weights_file_of_a_checkpoint_carries_its_own_checksum(tmp_path: Path) -> None:
    from safetensors import safe_open

    import restorekit

    w = {"decoder.w": torch.ones(2, 3)}
    ema = {"decoder.w": torch.full((2, 3), 0.5)}
    best = {"decoder.w": torch.full((2, 3), 0.25)}
    path = ckpt.write_checkpoint(tmp_path, 1, w, {"iteration": 1}, {"model": {}}, {}, ema_weights=ema, best_weights=best)
    for name, tensors in (("model.safetensors", w), ("ema.safetensors", ema), ("best.safetensors", best)):
        with safe_open(str(path / name), framework="pt") as f:
            assert f.metadata()[ckpt.DIGEST_KEY] == ckpt.tensor_digest(tensors)
        restorekit.weights.read_state_dict(path / name)  # verifies

"""Atomic checkpoints: weights as safetensors plus the full training state.

A checkpoint is a directory ``<out>/checkpoints/iter_<8-digit iteration>/`` holding

* ``model.safetensors`` — the pipeline's ``state_dict`` (what ``restorekit deblur --weights`` loads);
* ``ema.safetensors`` — the EMA weights, when EMA is on;
* ``state.pt`` — optimiser, scheduler, AMP scaler, EMA, RNG states, data position,
  iteration and stage (loadable with ``torch.load(weights_only=True)``);
* ``config.yaml`` — the resolved config; ``plugins.json`` — plugin name → version.

Atomicity: everything is written into a hidden temporary directory next to the final one,
each file is fsync'ed, then the directory is renamed into place with :func:`os.replace`
(atomic on POSIX) and the parent directory is fsync'ed. A crash at any point leaves either
the complete new checkpoint or none; temporary directories start with ``.`` and never match
the ``iter_*`` pattern that :func:`find_latest` (``--resume auto``) scans.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..config import dump_yaml
from ..errors import InputError

WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"
STATE = "state.pt"
CONFIG = "config.yaml"
PLUGINS = "plugins.json"
REQUIRED_FILES = (WEIGHTS, STATE, CONFIG, PLUGINS)
_NAME = re.compile(r"^iter_(\d{8})$")


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:08d}"


def plain_state_dict(module: torch.nn.Module) -> dict[str, Tensor]:
    """``state_dict`` as contiguous CPU tensors that share no storage (safetensors needs that)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items() if isinstance(v, Tensor)}


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, writer: Callable[[Path], None]) -> None:
    writer(path)
    _fsync_path(path)


def write_weights(path: str | Path, weights: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None) -> Path:
    """Write one safetensors file atomically (temporary file in the same directory + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        _write_synced(tmp, lambda p: save_file(dict(weights), str(p), metadata=dict(metadata or {"format": "pt"})))
        os.replace(tmp, path)
        _fsync_path(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_checkpoint(
    root: str | Path,
    iteration: int,
    weights: Mapping[str, Tensor],
    state: Mapping[str, Any],
    config: Mapping[str, Any],
    plugins: Mapping[str, str],
    ema_weights: Mapping[str, Tensor] | None = None,
) -> Path:
    """Write checkpoint ``root/iter_<iteration>`` atomically and return its path.

    An existing checkpoint of the same iteration is replaced only once the new one is
    complete.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(iteration)
    tmp = root / f".tmp-{final.name}-{uuid.uuid4().hex}"
    meta = {"format": "pt", "iteration": str(iteration)}
    try:
        tmp.mkdir()
        _write_synced(tmp / WEIGHTS, lambda p: save_file(dict(weights), str(p), metadata=meta))
        if ema_weights is not None:
            _write_synced(tmp / EMA_WEIGHTS, lambda p: save_file(dict(ema_weights), str(p), metadata=meta))
        _write_synced(tmp / STATE, lambda p: torch.save(dict(state), p))
        _write_synced(tmp / CONFIG, lambda p: p.write_text(dump_yaml(config), encoding="utf-8"))
        _write_synced(tmp / PLUGINS, lambda p: p.write_text(json.dumps(dict(plugins), indent=2, sort_keys=True), encoding="utf-8"))
        _fsync_path(tmp)
        old: Path | None = None
        if final.exists():
            old = root / f".old-{final.name}-{uuid.uuid4().hex}"
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_path(root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def is_complete(path: Path) -> bool:
    return path.is_dir() and _NAME.match(path.name) is not None and all((path / f).is_file() for f in REQUIRED_FILES)


def list_checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _NAME.match(child.name)
        if m and is_complete(child):
            found.append((int(m.group(1)), child))
    return sorted(found)


def find_latest(root: str | Path) -> Path | None:
    """The newest complete checkpoint under ``root`` (what ``--resume auto`` picks), or ``None``."""
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def prune(root: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` complete checkpoints."""
    for _, path in list_checkpoints(root)[:-keep]:
        trash = path.parent / f".del-{path.name}-{uuid.uuid4().hex}"
        os.replace(path, trash)  # atomically invisible first, then removed
        shutil.rmtree(trash, ignore_errors=True)


def resolve_resume(resume: str | None, checkpoints_root: str | Path) -> Path | None:
    """``None`` → no resume; ``"auto"`` → newest complete checkpoint (or none);
    a path → that checkpoint directory, or the newest one inside a ``checkpoints`` folder."""
    if resume is None:
        return None
    if resume == "auto":
        return find_latest(checkpoints_root)
    path = Path(resume)
    if is_complete(path):
        return path
    if path.is_dir():
        latest = find_latest(path) or find_latest(path / "checkpoints")
        if latest is not None:
            return latest
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()] if path.is_dir() else []
    detail = f"it lacks {', '.join(missing)}" if missing else "no such checkpoint directory"
    raise InputError(
        f"--resume {resume}: not a complete checkpoint ({detail}); give a directory like "
        f"<out>/checkpoints/iter_00001000 or use --resume auto"
    )


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Tensor] | None]:
    """``(weights, state, ema_weights or None)`` of a checkpoint directory."""
    path = Path(path)
    weights = load_file(str(path / WEIGHTS), device=str(device))
    state = torch.load(path / STATE, map_location=device, weights_only=True)
    ema = load_file(str(path / EMA_WEIGHTS), device=str(device)) if (path / EMA_WEIGHTS).is_file() else None
    return weights, state, ema

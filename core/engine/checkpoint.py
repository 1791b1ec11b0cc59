"""Atomic checkpoints: weights as safetensors plus the full training state.

A checkpoint is a directory ``<out>/checkpoints/iter_<8-digit iteration>/`` holding

* ``model.safetensors`` — the pipeline's ``state_dict`` (what ``restorekit deblur --weights`` loads);
* ``ema.safetensors`` — the EMA weights, when EMA is on;
* ``state.pt`` — optimiser, scheduler, AMP scaler, EMA, RNG states, data position,
  iteration and stage (loadable with ``torch.load(weights_only=True)``);
* ``config.yaml`` — the resolved config; ``plugins.json`` — plugin name → version;
* ``best.safetensors`` — the best validated weights so far, when a stage uses ``reload_best``;
* ``manifest.json`` — written last: the size and sha256 of every other file.

Atomicity: everything is written into a hidden temporary directory next to the final one,
each file is fsync'ed, then the directory is renamed into place with :func:`os.replace`
(atomic on POSIX) and the parent directory is fsync'ed. A crash at any point leaves either
the complete new checkpoint or none; temporary directories start with ``.`` and never match
the ``iter_*`` pattern that :func:`find_latest` (``--resume auto``) scans.

Integrity: a checkpoint counts only when its files verify against the manifest (sizes when
listing, sizes and sha256 when resuming), so a truncated ``state.pt`` or bit-rot is noticed
before anything is loaded; ``--resume auto`` then falls back to the newest checkpoint that
verifies and names the ones it skipped (:func:`choose_resume`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
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
BEST_WEIGHTS = "best.safetensors"
MANIFEST = "manifest.json"
REQUIRED_FILES = (WEIGHTS, STATE, CONFIG, PLUGINS)
DEBRIS_PREFIXES = (".tmp-", ".del-", ".old-")
"""Hidden folders a killed writer or pruner can leave behind (never read; removed on resume)."""
_NAME = re.compile(r"^iter_(\d{8})$")


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:08d}"


def plain_state_dict(module: torch.nn.Module) -> dict[str, Tensor]:
    """``state_dict`` as contiguous CPU tensors that share no storage (safetensors needs that)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items() if isinstance(v, Tensor)}


DIGEST_KEY = "restorekit.sha256"
"""safetensors metadata key: sha256 of the tensors (names, dtypes, shapes and bytes), written
by :func:`write_weights` and checked by :func:`restorekit.load_weights`, so bit-rot that
leaves finite numbers is caught too."""


def tensor_digest(tensors: Mapping[str, Tensor]) -> str:
    """sha256 over the tensors in name order: name, dtype, shape and raw bytes of each."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(name.encode("utf-8") + b"\0" + str(t.dtype).encode() + b"\0" + str(tuple(t.shape)).encode() + b"\0")
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


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
    """Write one safetensors file atomically (temporary file in the same directory + rename),
    with the :data:`DIGEST_KEY` checksum of its tensors in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    meta = {**dict(metadata or {"format": "pt"}), DIGEST_KEY: tensor_digest(weights)}
    try:
        _write_synced(tmp, lambda p: save_file(dict(weights), str(p), metadata=meta))
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
    best_weights: Mapping[str, Tensor] | None = None,
) -> Path:
    """Write checkpoint ``root/iter_<iteration>`` atomically and return its path.

    The manifest (size and sha256 of every file) is written last. An existing checkpoint of
    the same iteration is replaced only once the new one is complete.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(iteration)
    tmp = root / f".tmp-{final.name}-{uuid.uuid4().hex}"
    meta = {"format": "pt", "iteration": str(iteration)}
    try:
        tmp.mkdir()

        def with_digest(tensors: Mapping[str, Tensor]) -> dict[str, str]:
            return {**meta, DIGEST_KEY: tensor_digest(tensors)}

        _write_synced(tmp / WEIGHTS, lambda p: save_file(dict(weights), str(p), metadata=with_digest(weights)))
        if ema_weights is not None:
            _write_synced(tmp / EMA_WEIGHTS, lambda p: save_file(dict(ema_weights), str(p), metadata=with_digest(ema_weights)))
        _write_synced(tmp / STATE, lambda p: torch.save(dict(state), p))
        _write_synced(tmp / CONFIG, lambda p: p.write_text(dump_yaml(config), encoding="utf-8"))
        _write_synced(tmp / PLUGINS, lambda p: p.write_text(json.dumps(dict(plugins), indent=2, sort_keys=True), encoding="utf-8"))
        if best_weights is not None:
            _write_synced(tmp / BEST_WEIGHTS, lambda p: save_file(dict(best_weights), str(p), metadata=with_digest(best_weights)))
        files = {f.name: {"size": f.stat().st_size, "sha256": _sha256(f)} for f in sorted(tmp.iterdir())}
        manifest = {"iteration": int(iteration), "files": files}
        _write_synced(tmp / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8"))
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def verify_checkpoint(path: str | Path, full: bool = True) -> str | None:
    """``None`` when checkpoint ``path`` is complete and intact, else why it is not.

    Checks every required file exists and matches the manifest's size (and, with ``full``,
    its sha256). Without a manifest nothing can be verified, so the checkpoint does not
    count (its weights are still usable with ``--weights`` or ``train.init_weights``).
    """
    path = Path(path)
    if not path.is_dir():
        return "no such checkpoint directory"
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        return f"it lacks {', '.join(missing)}"
    if not (path / MANIFEST).is_file():
        return (
            f"it has no {MANIFEST} (written by an interrupted or older writer), so its files cannot be verified; "
            f"its weights can still be loaded with --weights or train.init_weights"
        )
    manifest = _read_manifest(path)
    if manifest is None:
        return f"its {MANIFEST} is unreadable"
    for name, entry in sorted(manifest["files"].items()):
        f = path / name
        if not f.is_file():
            return f"{name} is missing (listed in {MANIFEST})"
        size = f.stat().st_size
        if size != entry.get("size"):
            return f"{name} has {size} bytes, the manifest says {entry.get('size')} (truncated or overwritten)"
        if full and _sha256(f) != entry.get("sha256"):
            return f"{name} fails its sha256 checksum (the file is corrupt)"
    unlisted = [f for f in REQUIRED_FILES if f not in manifest["files"]]
    if unlisted:
        return f"{MANIFEST} does not list {', '.join(unlisted)}"
    return None


def is_complete(path: Path) -> bool:
    """A checkpoint directory whose files are all there with the sizes of its manifest."""
    return path.is_dir() and _NAME.match(path.name) is not None and verify_checkpoint(path, full=False) is None


def list_checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` (sizes checked, not checksums), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _NAME.match(child.name)
        if m and is_complete(child):
            found.append((int(m.group(1)), child))
    return sorted(found)


def _candidates(root: Path) -> list[tuple[int, Path]]:
    """Every ``iter_*`` directory, complete or not, oldest first."""
    if not root.is_dir():
        return []
    return sorted((int(m.group(1)), c) for c in root.iterdir() if c.is_dir() and (m := _NAME.match(c.name)))


def find_latest(root: str | Path) -> Path | None:
    """The newest checkpoint under ``root`` that verifies fully (what ``--resume auto`` picks), or ``None``."""
    return newest_verified(Path(root))[0]


def newest_verified(root: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """``(newest fully verified checkpoint or None, [(skipped newer checkpoint, why)])``."""
    skipped: list[tuple[Path, str]] = []
    for _, path in reversed(_candidates(root)):
        why = verify_checkpoint(path, full=True)
        if why is None:
            return path, skipped
        skipped.append((path, why))
    return None, skipped


def remove_debris(root: str | Path) -> list[str]:
    """Delete the hidden ``.tmp-*`` / ``.del-*`` / ``.old-*`` folders an interrupted writer or
    pruner left in ``root``; returns their names."""
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(DEBRIS_PREFIXES):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            removed.append(child.name)
    return removed


def prune(root: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` complete checkpoints."""
    for _, path in list_checkpoints(root)[:-keep]:
        trash = path.parent / f".del-{path.name}-{uuid.uuid4().hex}"
        os.replace(path, trash)  # atomically invisible first, then removed
        shutil.rmtree(trash, ignore_errors=True)


@dataclass
class ResumeChoice:
    """What ``--resume`` resolved to: the checkpoint (or ``None``: start fresh), the newer
    checkpoints skipped because they did not verify (with the reason), and the debris removed."""

    path: Path | None
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        out = [f"skipped {p}: {why}" for p, why in self.skipped]
        if self.removed:
            out.append(f"removed {len(self.removed)} leftover temporary folder(s): {', '.join(self.removed)}")
        return out


def choose_resume(resume: str | None, checkpoints_root: str | Path, clean: bool = True) -> ResumeChoice:
    """Resolve ``--resume``: ``None`` → no resume; ``"auto"`` → the newest checkpoint in
    ``checkpoints_root`` that verifies (newer ones that do not are skipped and named), or
    none (start fresh); a path → that checkpoint directory (it must verify), or the newest
    verified one inside a run or ``checkpoints`` folder. With ``clean``, leftover temporary
    folders in the checkpoints folder are removed first.
    """
    if resume is None:
        return ResumeChoice(None)
    root = Path(checkpoints_root)
    removed = remove_debris(root) if clean else []
    if resume == "auto":
        path, skipped = newest_verified(root)
        return ResumeChoice(path, skipped, removed)
    path = Path(resume)
    if _NAME.match(path.name) and path.is_dir():
        why = verify_checkpoint(path, full=True)
        if why is None:
            return ResumeChoice(path, [], removed)
        raise InputError(
            f"--resume {resume}: not a complete checkpoint ({why}); give another checkpoint directory or use "
            f"--resume auto (which falls back to the newest checkpoint that verifies)"
        )
    if path.is_dir():
        for inner in (path, path / "checkpoints"):
            if _candidates(inner):
                latest, skipped = newest_verified(inner)
                if latest is not None:
                    return ResumeChoice(latest, skipped, removed)
    why = verify_checkpoint(path, full=False)
    raise InputError(
        f"--resume {resume}: not a complete checkpoint ({why or 'not a checkpoint directory'}); give a directory like "
        f"<out>/checkpoints/iter_00001000 or use --resume auto"
    )


def resolve_resume(resume: str | None, checkpoints_root: str | Path) -> Path | None:
    """The checkpoint :func:`choose_resume` picks (see there), or ``None``."""
    return choose_resume(resume, checkpoints_root, clean=False).path


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Tensor] | None]:
    """``(weights, state, ema_weights or None)`` of a checkpoint directory (``state.pt`` is read
    with ``weights_only=True``, so no code in it runs)."""
    path = Path(path)
    try:
        weights = load_file(str(path / WEIGHTS), device=str(device))
        ema = load_file(str(path / EMA_WEIGHTS), device=str(device)) if (path / EMA_WEIGHTS).is_file() else None
    except Exception as exc:  # noqa: BLE001 - SafetensorError for corrupt files
        raise InputError(f"checkpoint {path}: a weights file is unreadable ({exc}); resume from an earlier checkpoint") from exc
    try:
        state = torch.load(path / STATE, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated archives, unpickling errors
        raise InputError(
            f"checkpoint {path}: {STATE} is unreadable ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            f"resume from an earlier checkpoint (--resume auto skips checkpoints that do not verify)"
        ) from exc
    return weights, state, ema


def load_best_weights(path: str | Path) -> dict[str, Tensor] | None:
    """The ``best.safetensors`` of a checkpoint (``reload_best``), or ``None``."""
    f = Path(path) / BEST_WEIGHTS
    return load_file(str(f)) if f.is_file() else None

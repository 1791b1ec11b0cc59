"""Photographs bundled with restorekit (public domain / CC0, from scikit-image's ``data``).

* ``demo`` — astronaut, chelsea, coffee (224×224): the inputs of ``restorekit demo`` and the
  held-out validation images of the bundled tiny models (never used for training);
* ``train`` — crops of other scikit-image images: the training set of every bundled tiny model.

In YAML, a dataset ``root`` of ``bundled:train`` (or ``bundled:demo``) names these folders, so
the ``*_tiny.yaml`` pipelines run as they are from any working directory. Sources and licences
are listed in ``samples/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

__all__ = ["SAMPLES_DIR", "SETS", "resolve_root", "sample_folder", "sample_images"]

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
SETS = ("demo", "train")
PREFIX = "bundled:"


def sample_folder(name: str) -> Path:
    """The folder of bundled image set ``name`` (``demo`` or ``train``)."""
    if name not in SETS:
        raise InputError(f"unknown bundled image set '{name}'; the sets are {', '.join(SETS)}")
    folder = SAMPLES_DIR / name
    if not folder.is_dir():
        raise InputError(f"the bundled images '{name}' are missing from {SAMPLES_DIR}; the installation is incomplete (reinstall restorekit)")
    return folder


def sample_images(name: str) -> list[Path]:
    """The images of bundled set ``name``, sorted by file name."""
    paths = sorted(p for p in sample_folder(name).iterdir() if p.suffix.lower() == ".png")
    if not paths:
        raise InputError(f"no images in {sample_folder(name)}; the installation is incomplete (reinstall restorekit)")
    return paths


def resolve_root(root: str) -> Path:
    """A dataset root: ``bundled:<set>`` → the bundled folder, anything else → that path."""
    if root.startswith(PREFIX):
        return sample_folder(root[len(PREFIX):])
    return Path(root).expanduser()

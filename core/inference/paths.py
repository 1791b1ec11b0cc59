"""Output paths that stay where they were asked to go.

* :func:`safe_join` — ``root / name`` for an untrusted ``name`` (a dataset sample name, a
  list-file entry): refused when it is empty, absolute or climbs out with ``..``, and when
  the resolved path (symbolic links followed) leaves ``root``.
* :func:`prepare_output_dir` — create an output folder up front with one clear error for a
  file in the way, a folder that cannot be created, or one that cannot be written.
* :func:`contains` — whether a path lies inside a folder (both resolved).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePath

from ..errors import InputError, OutputError, os_error_text


def contains(folder: str | Path, path: str | Path) -> bool:
    """``path`` is ``folder`` or lies below it (both resolved, symbolic links followed)."""
    f, p = Path(folder).resolve(), Path(path).resolve()
    return p == f or f in p.parents


def safe_join(root: str | Path, name: str | Path, what: str = "output") -> Path:
    """``root / name`` resolved, refusing any ``name`` that would leave ``root``.

    Raises:
        InputError: ``name`` is empty, absolute, or leaves ``root`` through ``..`` or a
            symbolic link.
    """
    text = str(name)
    root_r = Path(root).resolve()
    if not text.strip() or os.path.normpath(text) == ".":
        raise InputError(f"{what} name {text!r} is empty; it must name a file inside '{root}'")
    if PurePath(text).is_absolute():
        raise InputError(f"{what} name '{text}' is an absolute path, outside the output folder '{root}'; refused")
    norm = os.path.normpath(text)
    if norm == ".." or norm.startswith(".." + os.sep):
        raise InputError(f"{what} name '{text}' climbs out of the output folder '{root}' with '..'; refused (outside)")
    target = (root_r / norm).resolve()
    if target != root_r and root_r not in target.parents:
        raise InputError(f"{what} name '{text}' resolves to '{target}', outside the output folder '{root}' (a symbolic link); refused")
    return target


def check_output_dir(path: str | Path, flag: str = "-o") -> Path:
    """Check, without creating anything, that folder ``path`` could be created: neither it
    nor a parent is an existing file.

    Raises:
        InputError: naming the file in the way.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {p}: is a file, not a folder; give a folder (it is created if needed)")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{flag} {p}: '{parent}' is a file, not a folder")
            break
    return p


def prepare_output_dir(path: str | Path, flag: str = "-o") -> Path:
    """Create folder ``path`` (and its parents) and check that files can be written in it.

    Raises:
        InputError: ``path`` or one of its parents is an existing file.
        OutputError: the folder cannot be created or written (permissions, read-only or
            full file system), with the reason.
    """
    p = check_output_dir(path, flag)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise InputError(f"{flag} {p}: '{exc.filename or p}' is a file, not a folder") from exc
    except NotADirectoryError as exc:
        raise InputError(f"{flag} {p}: a parent is a file, not a folder ({exc.filename or p})") from exc
    except OSError as exc:
        raise OutputError(f"{flag} {p}: cannot create the folder: {os_error_text(exc)}") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".restorekit-write-test-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{flag} {p}: the folder is not writable: {os_error_text(exc)}") from exc
    return p

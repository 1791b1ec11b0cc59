"""Shared helpers of the reliability tests: tiny files, a sentinel tree, and a driver that
runs many ``restorekit`` command lines in one ``python`` subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

from ..conftest import ROOT

TINY = ROOT / "pipelines" / "tiny.yaml"
LEVIN = ROOT / "pipelines" / "levin_irls.yaml"


def save_image(path: Path, seed: int = 0, size: tuple[int, int] = (24, 28), channels: int = 3) -> np.ndarray:
    """A random 8-bit image (``channels`` 1, 3 or 4) written with Pillow."""
    shape = (*size, channels) if channels > 1 else size
    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.int64).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


def save_kernel(path: Path, size: int = 5) -> Path:
    """A horizontal box PSF of ``size`` taps (sums to 1) as ``.npy``."""
    k = np.zeros((size, size))
    k[size // 2, :] = 1.0 / size
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, k)
    return path


def checksums(root: Path, exclude: Iterable[Path] = ()) -> dict[str, str]:
    """sha256 of every file under ``root`` except those under ``exclude`` (relative names)."""
    skip = [Path(e).resolve() for e in exclude]
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rp = p.resolve()
        if any(rp == s or s in rp.parents for s in skip):
            continue
        out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def run_cases(cases: list[dict[str, Any]], cwd: Path, timeout: int = 900) -> list[dict[str, Any]]:
    """Run each case's ``argv`` through ``restorekit.cli.main`` in one subprocess (see
    :mod:`tests.reliability.cli_driver`); returns ``{"code", "stdout", "stderr"}`` per case."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="restorekit-cases-"))
    spec = scratch / "cases.json"
    result = scratch / "results.json"
    spec.write_text(json.dumps(cases))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTOREKIT_")}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.cli_driver", str(spec), str(result)],
        capture_output=True, text=True, cwd=str(cwd), env=env, timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"the CLI driver itself failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out = json.loads(result.read_text())
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)
    return out

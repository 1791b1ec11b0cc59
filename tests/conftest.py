"""Shared fixtures: installed test plugins, CLI runner, shared data location."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PLUGIN_PACKAGES = Path(__file__).resolve().parent / "plugin_packages"

# Keep BLAS/OpenMP from oversubscribing the (2-core) CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def shared_data() -> Path:
    """The project's shared test data (Levin kernels, Set3C); skip nothing silently."""
    if not SHARED_DATA.is_dir():
        raise FileNotFoundError(f"shared test data not found at {SHARED_DATA}; clone the project with shared/ beside it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the two test plugin distributions (toy, broken) into a private site dir.

    They are real distributions with their own pyproject and entry point, installed with
    pip, and made visible only to the tests that ask for this fixture (via sys.path or
    PYTHONPATH), so the broken one cannot disturb the rest of the suite.
    """
    target = tmp_path_factory.mktemp("plugin_site")
    for name in ("toy", "broken"):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
             "--target", str(target), str(PLUGIN_PACKAGES / name)],
            check=True,
        )
    return target


def run_cli(args: list[str], env: dict[str, str] | None = None, pythonpath: Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m restorekit ARGS`` in a subprocess and capture its output."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RESTOREKIT_")}
    if pythonpath is not None:
        full_env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "restorekit", *args],
        capture_output=True, text=True, env=full_env, cwd=str(cwd or ROOT), timeout=600,
    )

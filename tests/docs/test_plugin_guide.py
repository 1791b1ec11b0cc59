"""docs/plugin_guide.md is a working plugin: its pyproject, module and tests are written to a
fresh folder, pip-installed as a real distribution, discovered through its entry point, and its
own conformance tests pass; its YAML example validates and builds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT, run_cli

GUIDE = ROOT / "docs" / "plugin_guide.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    src = tmp_path_factory.mktemp("myplugin_src")
    (src / "pyproject.toml").write_text(_blocks("toml")[0])
    (src / "myplugin").mkdir()
    module, tests = _blocks("python")[:2]
    (src / "myplugin" / "__init__.py").write_text(module)
    (src / "tests").mkdir()
    (src / "tests" / "test_myplugin.py").write_text(tests)
    site = tmp_path_factory.mktemp("myplugin_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(src)],
        check=True,
    )
    return src, site


def test_guide_plugin_installs_and_is_discovered(installed) -> None:
    _, site = installed
    res = run_cli(["plugins", "--json"], pythonpath=site)
    assert res.returncode == 0, res.stderr
    assert '"name": "myplugin"' in res.stdout and '"status": "ok"' in res.stdout
    res = run_cli(["components", "show", "myplugin.edge_l1"], pythonpath=site)
    assert res.returncode == 0 and "Forward differences, no padding (our choice)" in res.stdout


def test_guide_conformance_tests_pass(installed) -> None:
    src, site = installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(src / "tests")],
        capture_output=True, text=True, env=env, cwd=str(src), timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 passed" in res.stdout


def test_guide_yaml_example_builds(installed, tmp_path) -> None:
    _, site = installed
    cfg = tmp_path / "example.yaml"
    cfg.write_text(_blocks("yaml")[0])
    res = run_cli(["config", "validate", str(cfg), "--build"], pythonpath=site)
    assert res.returncode == 0, res.stderr
    assert "pipeline built" in res.stdout

"""pyproject: every Python package in core/, plugins/, kernels/ (and the shipped pipelines/) is
listed (so a non-editable install ships it), package-dir maps the layout of DESIGN.md, and
package data exists."""

from __future__ import annotations

import tomllib

from ..conftest import ROOT


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_package_dir_layout():
    st = _pyproject()["tool"]["setuptools"]
    assert st["package-dir"] == {
        "restorekit": "core", "restorekit.plugins": "plugins", "restorekit.kernels": "kernels", "restorekit.pipelines": "pipelines",
    }


def test_every_package_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for folder, prefix in (("core", "restorekit"), ("plugins", "restorekit.plugins"), ("kernels", "restorekit.kernels"), ("pipelines", "restorekit.pipelines")):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([prefix, *rel.parts]) if rel.parts else prefix)
    assert found - listed == set(), f"packages missing from pyproject [tool.setuptools].packages: {sorted(found - listed)}"
    assert listed - found == set(), f"pyproject lists packages that do not exist: {sorted(listed - found)}"


def test_core_never_imports_a_plugin():
    offenders = []
    for py in (ROOT / "core").rglob("*.py"):
        text = py.read_text()
        if "restorekit.plugins" in text.replace("restorekit.plugins'", "").replace('"restorekit.plugins"', ""):
            for line in text.splitlines():
                s = line.strip()
                if (s.startswith("import restorekit.plugins") or s.startswith("from restorekit.plugins")):
                    offenders.append(f"{py.relative_to(ROOT)}: {s}")
    assert not offenders, "the core must not import a plugin:\n" + "\n".join(offenders)


def test_kernels_import_neither_core_nor_plugins():
    for py in (ROOT / "kernels").rglob("*.py"):
        for line in py.read_text().splitlines():
            s = line.strip()
            assert not s.startswith(("import restorekit", "from restorekit")) or s.startswith(("from restorekit.kernels", "import restorekit.kernels")), f"{py.name}: {s}"
            assert not s.startswith(("from ..", "from ...")), f"{py.name}: {s}"

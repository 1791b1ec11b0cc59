"""Every DRAMNet component is in the catalog with a one-line summary and a Choices section
(what `restorekit components show` prints)."""

from __future__ import annotations

import inspect

import pytest

import restorekit

NAMES = {
    "dramnet.depth_anything": "encoder",
    "dramnet.laplacian_bme": "blur_estimator",
    "dramnet.reversible": "decoder",
    "dramnet.silog": "loss",
    "dramnet.depth_ssim": "loss",
    "dramnet.blur_map": "loss",
    "dramnet.exit_classes": "loss",
    "standard.perceptual": "loss",
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_catalog_entry_summary_and_choices(name: str) -> None:
    info = restorekit.component_info(name)
    assert info.kind == NAMES[name]
    assert info.summary and info.summary.endswith(".") and len(info.summary) < 110, info.summary
    doc = inspect.getdoc(info.factory) or ""
    assert "Choices:" in doc
    section = doc.split("Choices:", 1)[1]
    assert section.strip().startswith("- ")


def test_components_show_prints_the_choices() -> None:
    from tests.conftest import run_cli

    res = run_cli(["components", "show", "dramnet.reversible"])
    assert res.returncode == 0
    assert "choices" in res.stdout.lower() and "N_sub = 4" in res.stdout

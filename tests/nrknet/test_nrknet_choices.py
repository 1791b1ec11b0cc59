"""`restorekit components show` lists each documented choice of the NRKNet components with
"(our choice)" or the paper/official-code reference (issue: NRKNet fidelity)."""

from __future__ import annotations

import pytest

from ..conftest import run_cli

EXPECTED = {
    "nrknet.coefficients": ["init: xavier", "Sec. 4.1", "init: default", "official", "(our choice"],
    "nrknet.rkr": ["Reflect padding by 1 at every recursion step (our choice", "plain sum (our choice", "1×1 convolution"],
    "nrknet.neumann": ["k = 0 term", "paper eq. 10"],
    "nrknet.multiscale": ["paper eq. 12", "SSIM phases off by default (our choice"],
    "nrknet.reblur": ["paper eq. 14", "reblur_weight: 0"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_components_show_lists_the_choices(name: str) -> None:
    res = run_cli(["components", "show", name])
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert "  choices:" in text
    choices = text.split("  choices:")[1].split("  options:")[0]
    for needle in EXPECTED[name]:
        assert needle in choices, f"{name}: '{needle}' missing from:\n{choices}"

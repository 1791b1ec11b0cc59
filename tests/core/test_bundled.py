"""``restorekit.bundled``: one namespace of bundled pipelines, and deblur defaults chosen by
measured numbers (never by name)."""

from __future__ import annotations

import pytest

import restorekit.bundled as bundled
from restorekit.bundled import BundledPipeline, default_pipeline, get_bundled, shipped_yaml
from restorekit.errors import ConfigError, InputError


def _blind(name: str, motion: float, defocus: float, inputs: tuple[float, float] | None = (18.0, 25.0)) -> BundledPipeline:
    metrics = {"heldout_motion_psnr": motion, "heldout_defocus_psnr": defocus}
    if inputs is not None:
        metrics |= {"heldout_motion_input_psnr": inputs[0], "heldout_defocus_input_psnr": inputs[1]}
    return BundledPipeline(name=name, pipeline={"model": {}}, task="motion+defocus", metrics=metrics)


def _with(monkeypatch: pytest.MonkeyPatch, *entries: BundledPipeline) -> None:
    monkeypatch.setattr(bundled, "bundled_pipelines", lambda echo=None: {e.name: e for e in entries})


def test_blind_default_is_the_best_mean_of_motion_and_defocus(monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, _blind("a.x", 19.0, 26.0), _blind("b.y", 20.0, 26.5), _blind("c.z", 19.5, 25.5))
    assert default_pipeline("blind").name == "b.y"  # means 22.5, 23.25, 22.5


def test_blind_default_must_help_on_every_blur_type(monkeypatch: pytest.MonkeyPatch) -> None:
    # c.z has the best mean (23.5) but makes camera shake worse than its input (18.0)
    _with(monkeypatch, _blind("a.x", 18.5, 25.5), _blind("c.z", 17.5, 29.5))
    assert default_pipeline("blind").name == "a.x"
    # without recorded input numbers the mean decides
    _with(monkeypatch, _blind("a.x", 18.5, 25.5, None), _blind("c.z", 17.5, 29.5, None))
    assert default_pipeline("blind").name == "c.z"


def test_pipelines_without_both_numbers_are_never_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    half = BundledPipeline(name="h.only", pipeline={"model": {}}, task="motion", metrics={"heldout_motion_psnr": 40.0})
    nonblind = BundledPipeline(name="n.hqs", pipeline={"model": {}}, task="nonblind", metrics={"heldout_nonblind_psnr": 30.0})
    _with(monkeypatch, half, nonblind)
    with pytest.raises(ConfigError, match="heldout_motion_psnr and heldout_defocus_psnr"):
        default_pipeline("blind")
    assert default_pipeline("nonblind").name == "n.hqs"
    with pytest.raises(ValueError):
        default_pipeline("semi")


def test_shipped_yaml_are_bundled_by_stem_with_did_you_mean() -> None:
    stems = shipped_yaml()
    assert {"hqs", "levin_irls", "nrknet_tiny", "aibnet_tiny", "dramnet_tiny"} <= set(stems)
    assert get_bundled("hqs").pipeline == stems["hqs"]
    with pytest.raises(InputError, match="did you mean 'nrknet_tiny'"):
        get_bundled("nrknet_tinny")


def test_the_installed_blind_default_beats_its_inputs() -> None:
    """The numbers in the bundled cards (benchmarks/bundled_models.py --write-cards) make a
    default that improves both camera shake and defocus on held-out Set3C."""
    entry = default_pipeline("blind")
    assert entry.weights is not None and entry.beats_inputs("blind"), entry.metrics

"""The ``train:`` section: registered with the config loader, validated with clear errors."""

from __future__ import annotations

import pytest

import restorekit
from restorekit import ConfigError
from restorekit.engine.settings import StageSettings, TrainSettings

BASE = {"model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1}}, "losses": [{"type": "standard.l1"}]}


def test_section_is_validated_by_resolve_config():
    resolved = restorekit.resolve_config({**BASE, "train": {"lr": 1e-3, "stages": [{"name": "a", "iterations": 5}]}})
    assert resolved["train"]["lr"] == 1e-3 and resolved["train"]["optimizer"] == "adamw"
    with pytest.raises(ConfigError, match=r"train\.shedule.*did you mean 'schedule'"):
        restorekit.resolve_config({**BASE, "train": {"shedule": "cosine"}})
    with pytest.raises(ConfigError, match=r"train\.stages\[0\]\.frozn.*did you mean 'frozen'"):
        restorekit.resolve_config({**BASE, "train": {"stages": [{"frozn": ["encoder"]}]}})
    with pytest.raises(ConfigError, match=r"train\.amp: 'fp8' is not one of"):
        restorekit.resolve_config({**BASE, "train": {"amp": "fp8"}})
    resolved = restorekit.resolve_config(BASE, overrides=["train.iterations=7", "train.ema=0.99"])
    settings = TrainSettings.from_config(resolved["train"])
    assert settings.iterations == 7 and settings.ema == 0.99


def test_stage_defaults_and_effective_values():
    s = TrainSettings.from_config({"iterations": 9, "lr": 0.5, "stages": [{"iterations": 3, "lr": 0.1}, {"name": "b", "frozen": ["encoder"]}]})
    first, second = s.effective_stages()
    assert first == StageSettings(name="stage0", iterations=3, lr=0.1)
    assert second.name == "b" and second.iterations == 9 and second.lr == 0.5 and second.frozen == ["encoder"]
    assert s.total_iterations() == 12
    assert TrainSettings.from_config({"iterations": 4}).effective_stages() == [StageSettings(name="main", iterations=4, lr=2e-4)]


@pytest.mark.parametrize(
    "section, message",
    [
        ({"batch_size": 0}, "train.batch_size: must be at least 1"),
        ({"ema": 1.5}, "EMA decay must lie in"),
        ({"milestones": [10, 5]}, "must be increasing"),
        ({"stages": [{"name": "a"}, {"name": "a"}]}, "stage names must be unique"),
        ({"stages": [{"iterations": 0}]}, r"train.stages\[0\].iterations: must be at least 1"),
        ({"val_every": -1}, "must be >= 0"),
    ],
)
def test_range_errors(section, message):
    with pytest.raises(ConfigError, match=message):
        TrainSettings.from_config(section)

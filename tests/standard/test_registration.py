"""The standard plugin registers the losses and networks under their YAML names."""

from __future__ import annotations

import pytest

import restorekit
from restorekit import ConfigError

LOSSES = ["charbonnier", "edge", "fft_l1", "gradient_l1", "l1", "mse", "ssim"]


def test_catalog_names_and_kinds() -> None:
    by_name = {c["name"]: c for c in restorekit.list_components()}
    for short in LOSSES:
        assert by_name[f"standard.{short}"]["kind"] == "loss"
    assert by_name["standard.simple_encoder"]["kind"] == "encoder"
    assert by_name["standard.unet"]["kind"] == "decoder"


def test_schemas_expose_the_documented_options() -> None:
    by_name = {c["name"]: c for c in restorekit.list_components()}
    assert by_name["standard.charbonnier"]["options"]["eps"]["default"] == pytest.approx(1e-3)
    assert by_name["standard.ssim"]["options"]["window_size"]["default"] == 11
    assert by_name["standard.simple_encoder"]["options"]["widths"]["default"] == [16, 32, 64]
    unet = by_name["standard.unet"]["options"]
    assert {k: unet[k]["default"] for k in ("in_channels", "width", "depth", "use_features", "use_blur_map")} == {
        "in_channels": 3, "width": 16, "depth": 2, "use_features": False, "use_blur_map": False,
    }
    for short in LOSSES:
        opts = by_name[f"standard.{short}"]["options"]
        assert opts["target"]["default"] == "restored" and opts["scale_weights"]["default"] is None


def test_yaml_typo_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'scale_weights'"):
        restorekit.load_pipeline(
            {"model": {"decoder": {"type": "standard.unet"}}, "losses": [{"type": "standard.l1", "scale_weight": [1.0]}]}
        )

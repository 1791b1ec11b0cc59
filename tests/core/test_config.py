"""YAML configuration: schema from typed constructors, "did you mean", overrides, resolve."""

from __future__ import annotations

import textwrap
from typing import Literal

import pytest
import yaml

import restorekit
from restorekit import ConfigError, UnknownComponentError
from restorekit.config import apply_overrides, parse_override, resolve_config
from restorekit.schema import check_type, schema_of

from ..conftest import ROOT, run_cli

BASE = {
    "model": {
        "blur_estimator": {"type": "standard.given_kernel"},
        "decoder": {"type": "standard.unet", "width": 4, "depth": 1},
        "operator": {"type": "standard.convolution", "boundary": "circular"},
    },
    "losses": [{"type": "standard.l1", "weight": 1.0}],
}


def _with(path: str, value):
    return apply_overrides(BASE, {path: value})


def test_misspelt_option_names_it_and_the_nearest_valid_one():
    cfg = apply_overrides(BASE, {})
    cfg["model"]["operator"] = {"type": "standard.convolution", "boundry": "circular"}
    with pytest.raises(ConfigError) as exc:
        restorekit.validate_config(cfg)
    msg = str(exc.value)
    assert "model.operator.boundry" in msg and "did you mean 'boundary'" in msg


def test_misspelt_component_name_suggests_nearest_and_plugin():
    cfg = _with("model.operator.type", "standard.convolutoin")
    with pytest.raises(UnknownComponentError) as exc:
        restorekit.validate_config(cfg)
    msg = str(exc.value)
    assert "standard.convolutoin" in msg and "did you mean 'standard.convolution'" in msg
    assert "model.operator.type" in msg


def test_unknown_plugin_namespace_is_explained():
    cfg = _with("model.decoder", {"type": "nosuchplugin.decoder"})
    with pytest.raises(UnknownComponentError, match="no plugin 'nosuchplugin' is installed"):
        restorekit.validate_config(cfg)


def test_component_of_wrong_kind():
    cfg = _with("model.decoder", {"type": "standard.l1"})
    with pytest.raises(UnknownComponentError, match="is a loss, not a decoder"):
        restorekit.validate_config(cfg)


def test_wrong_types_are_errors():
    with pytest.raises(ConfigError, match=r"model.decoder.width: expected an integer, got str"):
        restorekit.validate_config(_with("model.decoder.width", "wide"))
    with pytest.raises(ConfigError, match=r"not one of .*'circular'"):
        restorekit.validate_config(_with("model.operator.boundary", "circullar"))
    with pytest.raises(ConfigError, match="did you mean 'circular'"):
        restorekit.validate_config(_with("model.operator.boundary", "circullar"))
    with pytest.raises(ConfigError, match=r"losses\[0\].weight: expected a number"):
        restorekit.validate_config(_with("losses.0.weight", "heavy"))


def test_unknown_top_level_and_model_keys():
    cfg = dict(BASE, modle={})
    with pytest.raises(ConfigError, match="unknown top-level key 'modle'.*did you mean 'model'"):
        restorekit.validate_config(cfg)
    cfg = apply_overrides(BASE, {})
    cfg["model"]["decodr"] = cfg["model"].pop("decoder")
    with pytest.raises(ConfigError, match="model.decodr.*did you mean 'decoder'"):
        restorekit.validate_config(cfg)


def test_missing_type_key():
    cfg = apply_overrides(BASE, {})
    cfg["model"]["decoder"] = {"typ": "standard.unet"}
    with pytest.raises(ConfigError, match="missing 'type:'.*did you mean 'type'"):
        restorekit.validate_config(cfg)


def test_resolve_fills_defaults_and_is_stable():
    resolved = resolve_config(BASE)
    op = resolved["model"]["operator"]
    assert op["correlation"] is False  # default filled from the constructor
    assert resolved["losses"][0]["weight"] == 1.0
    again = resolve_config(resolved)  # resolving a resolved config is a fixed point
    assert again["model"] == resolved["model"]


def test_dotted_overrides():
    keys, value = parse_override("train.lr=1e-4")
    assert keys == ["train", "lr"] and value == pytest.approx(1e-4) and isinstance(value, float)
    assert parse_override("a.b=[1, 2]")[1] == [1, 2]
    assert parse_override("a.b=true")[1] is True
    cfg = apply_overrides(BASE, ["model.decoder.width=8", "losses.0.weight=0.5"])
    assert cfg["model"]["decoder"]["width"] == 8 and cfg["losses"][0]["weight"] == 0.5
    assert BASE["model"]["decoder"]["width"] == 4  # original untouched
    with pytest.raises(ConfigError, match="out of range"):
        apply_overrides(BASE, ["losses.3.weight=1"])
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("train.lr")


def test_schema_from_typed_constructor():
    class Thing:
        def __init__(self, n: int, mode: Literal["a", "b"] = "a", scale: float = 1.0, sizes: list[int] | None = None):
            pass

    schema = schema_of(Thing, "test.thing")
    assert set(schema.options) == {"n", "mode", "scale", "sizes"}
    assert schema.options["n"].required and not schema.options["mode"].required
    assert schema.validate({"n": 3, "scale": 2}, "x") == {"n": 3, "scale": 2.0}
    with pytest.raises(ConfigError, match="needs option"):
        schema.validate({}, "x")
    with pytest.raises(ConfigError, match=r"x.sizes\[1\]: expected an integer"):
        schema.validate({"n": 1, "sizes": [1, "2"]}, "x")
    assert check_type(None, int | None, "p") is None
    with pytest.raises(ConfigError, match="boolean"):
        check_type("yes", bool, "p")
    with pytest.raises(ConfigError):
        check_type(True, int, "p")  # bools are not integers in configs


def test_cli_config_validate_and_resolve(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    res = run_cli(["config", "validate", str(cfg)])
    assert res.returncode == 0, res.stderr
    res = run_cli(["config", "resolve", str(cfg), "-o", "model.decoder.width=8"])
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout)["model"]["decoder"]["width"] == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""
        model:
          decoder: {type: standard.unnet}
    """))
    res = run_cli(["config", "validate", str(bad)])
    assert res.returncode == 1
    assert "did you mean 'standard.unet'" in res.stderr
    res = run_cli(["config", "validate", str(tmp_path / "missing.yaml")])
    assert res.returncode == 1 and "does not exist" in res.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "pipelines").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_pipeline_validates(path):
    restorekit.resolve_config(path)

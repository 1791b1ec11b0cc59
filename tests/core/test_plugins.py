"""Plugin host: discovery through entry points, isolation of broken plugins, env switches,
duplicate names, version pins, use of a third-party plugin from YAML."""

from __future__ import annotations

import json
import sys
import textwrap
import types

import pytest
import torch

import restorekit
from restorekit import PluginError, hookimpl
from restorekit.plugin_host import PluginHost, reset_host

from ..conftest import ROOT, run_cli


@pytest.fixture()
def with_plugins(plugin_site, monkeypatch):
    """The toy and broken plugins visible in this process, with a fresh host."""
    monkeypatch.syspath_prepend(str(plugin_site))
    for var in ("RESTOREKIT_PLUGINS", "RESTOREKIT_DISABLE_PLUGINS", "RESTOREKIT_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    reset_host()
    yield plugin_site
    sys.modules.pop("restorekit_toy", None)
    reset_host()


def test_cli_plugins_lists_standard_with_version():
    res = run_cli(["plugins", "--json"])
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["standard"]["status"] == "ok"
    assert rows["standard"]["version"] == restorekit.__version__
    text = run_cli(["plugins"]).stdout
    assert "standard" in text and restorekit.__version__ in text


def test_cli_components_kind_operator_lists_convolution():
    res = run_cli(["components", "--kind", "operator"])
    assert res.returncode == 0, res.stderr
    assert "standard.convolution" in res.stdout
    assert "standard.l1" not in res.stdout  # a loss is not an operator


def test_third_party_plugin_discovered_listed_and_usable_from_yaml(with_plugins, tmp_path):
    host = restorekit.get_host()
    assert host.plugins["toy"].status == "ok"
    assert host.plugins["toy"].version == "1.2.0"
    assert host.plugins["toy"].distribution == "restorekit-toy"
    names = [c["name"] for c in restorekit.list_components("loss")]
    assert "toy.tv" in names
    # broken plugin is reported, everything else still works
    assert host.plugins["broken"].status == "error"
    assert "deliberately broken" in host.plugins["broken"].error
    assert host.plugins["standard"].status == "ok"

    cfg = tmp_path / "toy.yaml"
    cfg.write_text(textwrap.dedent("""
        requires: {toy: ">=1.0,<2", standard: ">=0.1"}
        model:
          decoder: {type: toy.gain, init: 0.5}
        losses:
          - {type: toy.tv, weight: 2.0}
    """))
    pipe = restorekit.load_pipeline(cfg)
    x = torch.rand(1, 3, 8, 8)
    out = pipe({"blurry": x})
    assert torch.allclose(out.restored, 0.5 * x)
    total, parts = pipe.loss(out, {"blurry": x})
    tv = (0.5 * x).diff(dim=-2).abs().mean() + (0.5 * x).diff(dim=-1).abs().mean()
    assert torch.allclose(total, 2.0 * tv)
    total.backward()
    assert pipe.decoder.gain.grad is not None


def test_cli_sees_third_party_and_broken(plugin_site, tmp_path):
    res = run_cli(["plugins", "--json"], pythonpath=plugin_site)
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["toy"]["status"] == "ok" and rows["toy"]["version"] == "1.2.0"
    assert rows["broken"]["status"] == "error" and "deliberately broken" in rows["broken"]["error"]
    assert rows["standard"]["status"] == "ok"
    text = run_cli(["plugins"], pythonpath=plugin_site).stdout
    assert "broken" in text and "deliberately broken" in text
    comps = run_cli(["components", "--kind", "decoder"], pythonpath=plugin_site)
    assert "toy.gain" in comps.stdout


def test_strict_mode_turns_broken_plugin_into_failure(plugin_site):
    res = run_cli(["plugins"], env={"RESTOREKIT_STRICT_PLUGINS": "1"}, pythonpath=plugin_site)
    assert res.returncode != 0
    assert "broken" in res.stderr and "RESTOREKIT_STRICT_PLUGINS" in res.stderr
    # strict mode is fine when the broken plugin is disabled
    ok = run_cli(["plugins"], env={"RESTOREKIT_STRICT_PLUGINS": "1", "RESTOREKIT_DISABLE_PLUGINS": "broken"}, pythonpath=plugin_site)
    assert ok.returncode == 0, ok.stderr


def test_strict_mode_in_process(with_plugins, monkeypatch):
    monkeypatch.setenv("RESTOREKIT_STRICT_PLUGINS", "1")
    reset_host()
    with pytest.raises(PluginError, match="broken"):
        restorekit.get_host()


def test_allow_and_block_lists(with_plugins, monkeypatch):
    monkeypatch.setenv("RESTOREKIT_PLUGINS", "standard,toy")
    reset_host()
    host = restorekit.get_host()
    assert host.plugins["broken"].status == "disabled"
    assert host.plugins["toy"].status == "ok"
    monkeypatch.delenv("RESTOREKIT_PLUGINS")
    monkeypatch.setenv("RESTOREKIT_DISABLE_PLUGINS", "toy")
    reset_host()
    host = restorekit.get_host()
    assert host.plugins["toy"].status == "disabled"
    with pytest.raises(restorekit.UnknownComponentError, match="disabled"):
        restorekit.create("toy.tv")


def test_version_pin_mismatch_is_an_error(with_plugins):
    cfg = {"requires": {"toy": ">=2"}, "model": {"decoder": {"type": "toy.gain"}}}
    with pytest.raises(restorekit.ConfigError, match=r"toy.*1\.2\.0.*>=2"):
        restorekit.load_pipeline(cfg)
    cfg = {"requires": ["toy==1.2.0"], "model": {"decoder": {"type": "toy.gain"}}}
    restorekit.load_pipeline(cfg)
    with pytest.raises(restorekit.ConfigError, match="not installed"):
        restorekit.load_pipeline({"requires": {"nosuchplugin": ">=1"}, "model": {"decoder": {"type": "toy.gain"}}})
    with pytest.raises(restorekit.ConfigError, match="PEP 440"):
        restorekit.load_pipeline({"requires": {"toy": "at least one"}, "model": {"decoder": {"type": "toy.gain"}}})


def _plugin_module(name: str, component: str) -> types.ModuleType:
    mod = types.ModuleType(name)

    class Dummy(restorekit.Loss):
        """A dummy loss."""

        def forward(self, output, batch):
            return output.restored.mean()

    @hookimpl
    def register_losses(register):
        register(component, Dummy)

    mod.register_losses = register_losses
    return mod


def test_duplicate_component_names_name_both_plugins():
    host = PluginHost()
    st1 = host.register_plugin("dup", _plugin_module("a", "same"), version="1.0", distribution="dist-one")
    assert st1.status == "ok"
    st2 = host.register_plugin("dup", _plugin_module("b", "same"), version="2.0", distribution="dist-two")
    assert st2.status == "error"
    assert "dist-one" in st2.error and "dist-two" in st2.error


def test_component_registered_twice_by_one_plugin_is_reported():
    mod = types.ModuleType("twice")

    @hookimpl
    def register_losses(register):
        from restorekit.plugins.standard.losses import COMPONENTS

        cls = next(iter(COMPONENTS.values()))
        register("x", cls)
        register("x", cls)

    mod.register_losses = register_losses
    host = PluginHost()
    st = host.register_plugin("twice", mod, version="0.1")
    assert st.status == "error"
    assert "duplicate component name 'twice.x'" in st.error
    assert "twice.x" not in host.catalog  # partial registrations are rolled back


def test_plugin_cannot_register_outside_its_namespace():
    mod = types.ModuleType("evil")

    @hookimpl
    def register_losses(register):
        register("standard.l1", object)

    mod.register_losses = register_losses
    host = PluginHost()
    st = host.register_plugin("evil", mod)
    assert st.status == "error" and "outside its namespace" in st.error


def test_builtin_plugins_are_registered_through_entry_points():
    from importlib import metadata

    eps = {ep.name: ep.value for ep in metadata.entry_points(group="restorekit")}
    assert eps["standard"] == "restorekit.plugins.standard"
    text = (ROOT / "pyproject.toml").read_text()
    assert 'standard = "restorekit.plugins.standard"' in text

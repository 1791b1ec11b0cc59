"""``restorekit.load_weights`` / ``save_weights`` / model cards / bundled-weights registry /
``restorekit weights`` CLI / training warm start."""

from __future__ import annotations

import json
import types

import pytest
import torch

import restorekit
from restorekit import InputError, ModelCard, hookimpl, load_weights, read_card, save_weights
from restorekit.plugin_host import PluginHost
from restorekit.weights import read_state_dict

from ..conftest import run_cli

CFG = {
    "model": {
        "encoder": {"type": "standard.simple_encoder", "widths": [4, 8]},
        "decoder": {"type": "standard.unet", "width": 4, "depth": 1},
    }
}


def _pipe(width: int = 4) -> restorekit.Pipeline:
    cfg = {"model": {"decoder": {"type": "standard.unet", "width": width, "depth": 1, "zero_init": False}}}
    return restorekit.load_pipeline(cfg)


def _card(name: str = "test.tiny") -> ModelCard:
    return ModelCard(
        name=name, pipeline=restorekit.resolve_config({"model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1, "zero_init": False}}}),
        task="motion", size_multiple=2, data="two images", steps=5, val_psnr=25.0, val_input_psnr=23.5,
        val_set="held-out crops", command="restorekit train x.yaml",
    )


def test_round_trip_with_card(tmp_path):
    a, b = _pipe(), _pipe()
    path = save_weights(a, tmp_path / "w.safetensors", card=_card())
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temporary file left
    card = load_weights(b, path)
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k
    assert card is not None and card.val_psnr == 25.0 and card.task == "motion" and card.size_multiple == 2
    assert read_card(path).as_dict() == _card().as_dict()
    _, meta = read_state_dict(path)
    assert json.loads(meta["restorekit.card"])["command"] == "restorekit train x.yaml"


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_weights(_pipe(), tmp_path / "nope.safetensors")
    with pytest.raises(InputError, match="model.safetensors' does not exist"):
        load_weights(_pipe(), tmp_path)  # a folder without model.safetensors


def test_pickle_is_refused_with_the_conversion_command(tmp_path):
    p = tmp_path / "w.pth"
    torch.save(_pipe().state_dict(), p)
    with pytest.raises(InputError, match=r"PyTorch pickle.*restorekit weights convert"):
        load_weights(_pipe(), p)


def test_corrupt_and_foreign_files(tmp_path):
    path = save_weights(_pipe(), tmp_path / "w.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        load_weights(_pipe(), tmp_path / "cut.safetensors")
    (tmp_path / "text.safetensors").write_text("hello")
    with pytest.raises(InputError, match="not a safetensors file"):
        load_weights(_pipe(), tmp_path / "text.safetensors")


def test_shape_mismatch_names_the_first_key_and_both_shapes(tmp_path):
    small, big = _pipe(width=4), _pipe(width=6)
    path = save_weights(small, tmp_path / "w.safetensors")
    s, b = small.state_dict(), big.state_dict()
    first = next(k for k in b if s[k].shape != b[k].shape)
    with pytest.raises(InputError, match=rf"'{first}' is {tuple(s[first].shape)} in the file but {tuple(b[first].shape)} in the pipeline".replace("(", r"\(").replace(")", r"\)")):
        load_weights(big, path)


def test_missing_and_unexpected_keys(tmp_path):
    state = _pipe().state_dict()
    key = next(iter(state))
    extra = {**{k: v for k, v in state.items() if k != key}, "bogus.weight": torch.zeros(1)}
    path = save_weights(extra, tmp_path / "w.safetensors")
    with pytest.raises(InputError, match=rf"1 missing key\(s\) \[{key}\], 1 unexpected key\(s\) \[bogus.weight\]"):
        load_weights(_pipe(), path)
    load_weights(_pipe(), path, strict=False)  # a warm start may load what it shares


def test_non_finite_weights_are_named(tmp_path):
    state = _pipe().state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")
    path = save_weights(state, tmp_path / "w.safetensors")
    with pytest.raises(InputError, match=rf"'{key}' contains NaN or Inf"):
        load_weights(_pipe(), path)


def test_bundled_weights_registry_and_pipeline_by_name(tmp_path):
    path = save_weights(_pipe(), tmp_path / "tiny.safetensors", card=_card("wplug.tiny"))
    plugin = types.ModuleType("wplug")

    @hookimpl
    def register_weights(register):
        register("tiny", path)

    plugin.register_weights = register_weights
    host = PluginHost()
    status = host.register_plugin("wplug", plugin, version="1.0")
    assert status.status == "ok", status.error
    entry = host.weights["wplug.tiny"]
    assert entry.card.val_psnr == 25.0 and entry.as_dict()["task"] == "motion"

    bad = types.ModuleType("wbad")

    @hookimpl
    def register_weights_bad(register):
        register("gone", tmp_path / "missing.safetensors")

    bad.register_weights = register_weights_bad
    status = host.register_plugin("wbad", bad, version="1.0")
    assert status.status == "error" and "does not exist" in status.error and "wbad.gone" not in host.weights


def test_cli_show_and_convert(tmp_path):
    path = save_weights(_pipe(), tmp_path / "w.safetensors", card=_card())
    res = run_cli(["weights", "show", str(path)])
    assert res.returncode == 0, res.stderr
    assert "validation PSNR: 25.00 dB (blurry input 23.50 dB, +1.50 dB)" in res.stdout
    assert "restorekit train x.yaml" in res.stdout and "standard.unet" in res.stdout
    pth = tmp_path / "ckpt.pth"
    state = _pipe().state_dict()
    torch.save({"params": state}, pth)
    out = tmp_path / "conv.safetensors"
    res = run_cli(["weights", "convert", str(pth), "-o", str(out), "--key", "params"])
    assert res.returncode == 0, res.stderr
    tensors, _ = read_state_dict(out)
    assert all(torch.equal(tensors[k], v) for k, v in state.items())
    res = run_cli(["weights", "convert", str(pth), "-o", str(out)])
    assert res.returncode == 1 and "--key" in res.stderr and "params" in res.stderr
    res = run_cli(["weights", "--json"])
    assert res.returncode == 0 and isinstance(json.loads(res.stdout), list)


def test_deblur_uses_the_card_pipeline_when_only_weights_are_given(tmp_path):
    import numpy as np
    from PIL import Image

    path = save_weights(_pipe(), tmp_path / "w.safetensors", card=_card())
    img = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype("uint8")).save(img)
    res = run_cli(["deblur", str(img), "-o", str(tmp_path / "out"), "--weights", str(path), "--device", "cpu"])
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "in.png").is_file()


def test_training_warm_start_loads_weights_before_the_first_step(tmp_path):
    from restorekit.engine.trainer import Trainer

    src = _pipe()
    path = save_weights(src, tmp_path / "init.safetensors")
    cfg = {
        "model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1, "zero_init": False}},
        "losses": [{"type": "standard.l1"}],
        "train": {"iterations": 1, "batch_size": 1, "init_weights": str(path)},
    }
    data = [{"blurry": torch.rand(3, 8, 8), "sharp": torch.rand(3, 8, 8)}]
    trainer = Trainer(cfg, out_dir=tmp_path / "run", train_dataset=data, device="cpu", progress=False)
    for k, v in src.state_dict().items():
        assert torch.equal(trainer.pipeline.state_dict()[k], v), k
    bad = dict(cfg, train={**cfg["train"], "init_weights": str(tmp_path / "nope.safetensors")})
    with pytest.raises(InputError, match="does not exist"):
        Trainer(bad, out_dir=tmp_path / "run2", train_dataset=data, device="cpu", progress=False)

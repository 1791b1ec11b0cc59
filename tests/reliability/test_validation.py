"""Validation where it belongs: ``config validate`` rejects everything ``train`` rejects,
duplicate YAML keys and negative loss weights are errors, and a model that cannot fit in
memory is refused before anything is allocated."""

from __future__ import annotations

from pathlib import Path

import pytest

import restorekit
from restorekit import ConfigError, PipelineError
from restorekit.cli import main
from restorekit.config import load_yaml

from .helpers import TINY, error_lines

HUGE = ["-o", "model.decoder.width=100000", "-o", "model.decoder.depth=40"]


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["config", "validate", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code:
        assert len(error_lines(err)) == 1, err
    return code, err


@pytest.mark.parametrize("override,needle", [
    ("train.iterations=-1", "train.iterations"),
    ("train.batch_size=0", "train.batch_size"),
    ("eval.protocol=nope", "protocol 'nope'"),
    ("losses.0.weight=-1", "losses[0].weight"),
    ("losses.1.weight=.nan", "losses[1].weight"),
    ("train.stages=[{name: a, frozen: [decoder.nosuch]}]", "has no sub-module 'nosuch'"),
    ("train.stages=[{name: a, trainable: [encoderr]}]", "did you mean 'encoder'"),
    ("train.stages=[{name: a, losses: [standard.l2]}]", "no loss named or typed 'standard.l2'"),
])
def test_config_validate_rejects_what_train_rejects(capsys: pytest.CaptureFixture[str], override: str, needle: str) -> None:
    code, err = _validate(capsys, str(TINY), "-o", override)
    assert code == 1 and needle in err


def test_stage_paths_are_checked_against_the_built_pipeline_without_allocating(capsys: pytest.CaptureFixture[str]) -> None:
    ok = "train.stages=[{name: a, frozen: [decoder.head, encoder]}, {name: b}]"
    assert _validate(capsys, str(TINY), "-o", ok)[0] == 0
    code, err = _validate(capsys, str(TINY), *HUGE, "-o", "train.stages=[{name: a, frozen: [decoder.nosuch]}]")
    assert code == 1 and ("nosuch" in err or "memory" in err)


def test_duplicate_yaml_keys_are_errors_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("model:\n  decoder: {type: standard.unet, width: 4}\n  decoder: {type: standard.unet, width: 8}\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'decoder'.*line 3.*line 2"):
        load_yaml(path)
    path.write_text("train: {lr: 1.0e-3, lr: 2.0e-3}\nmodel: {decoder: standard.unet}\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'lr'.*line 1"):
        restorekit.resolve_config(path)
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        restorekit.resolve_config({"model": {"decoder": {"type": "standard.unet"}}}, ["train.betas={a: 1, a: 2}"])


def test_config_validate_refuses_a_model_too_big_for_memory(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _validate(capsys, str(TINY), *HUGE)
    assert code == 1
    line = error_lines(err)[0]
    assert "parameters" in line and "GB" in line and "available" in line and "model.decoder" in line


def test_train_and_deblur_refuse_before_allocating(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restorekit.engine.trainer import Trainer

    cfg = restorekit.config.apply_overrides(restorekit.config.load_yaml(TINY), ["model.decoder.width=100000", "model.decoder.depth=40"])
    with pytest.raises(PipelineError, match="memory"):
        Trainer(cfg, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    (tmp_path / "a.png").write_bytes(b"")  # never read: the pipeline is refused first
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--pipeline", str(TINY), *[a.replace("-o", "-O") for a in HUGE]]) == 1
    assert "memory" in capsys.readouterr().err


def test_memory_estimate_is_honest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parameters counted on the meta device equal the built model's; the activation probe
    (one 64² image, scaled by the pixels) equals what autograd keeps for a real batch."""
    import torch

    from restorekit import pipeline as pl

    resolved = restorekit.resolve_config(TINY)
    est = pl.estimate_memory(resolved, training=True)
    real = restorekit.load_pipeline(TINY)
    n = sum(p.numel() for p in real.parameters())
    assert est.parameters == n and est.parameter_bytes == 4 * n
    act = pl.probe_activations(real, batch_size=4, crop=128)
    saved = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.nn.Parameter):
            saved[id(t)] = t.numel() * t.element_size()
        return t

    x = torch.rand(4, 3, 128, 128)
    k = torch.zeros(4, 1, 3, 3)
    k[..., 1, 1] = 1
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = real({"blurry": x, "sharp": x, "kernel": k})
        real.loss(out, {"blurry": x, "sharp": x, "kernel": k})
    measured = sum(saved.values())
    assert act == pytest.approx(measured, rel=0.05), (act, measured)
    full = pl.estimate_memory(resolved, training=True, activation_bytes=act)
    assert full.training_bytes == 4 * est.parameter_bytes + act  # weights, gradients, 2 Adam moments, activations
    monkeypatch.setattr(pl, "available_memory", lambda device=None: full.training_bytes // 2)
    with pytest.raises(PipelineError, match="training needs about"):
        pl.check_memory(resolved, training=True, batch_size=4, crop=128, activation_bytes=act)
    pl.check_memory(resolved, training=False)  # inference needs only the weights here

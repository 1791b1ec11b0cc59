"""A third-party plugin's dataset and metric are usable by name in YAML (train and eval),
with the same "did you mean" errors as components (issue: core extension points)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from ..conftest import ROOT, run_cli

SAMPLES = ROOT / "core" / "data" / "samples" / "demo"  # bundled:demo


def _images(tmp_path: Path) -> Path:
    folder = tmp_path / "sharp"
    folder.mkdir()
    for p in sorted(SAMPLES.glob("*.png"))[:2]:
        shutil.copy(p, folder / p.name)
    return folder


def _config(tmp_path: Path, dataset_type: str = "toy.frames", metric: str = "toy.mae") -> Path:
    images = _images(tmp_path)
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model:
          decoder: {{type: toy.gain, init: 0.9}}
        losses:
          - {{type: standard.l1}}
        data:
          train: {{type: {dataset_type}, root: {images}, box: 3, crop: 32}}
          test: {{type: {dataset_type}, root: {images}, box: 3, crop: 32}}
        train: {{iterations: 3, batch_size: 2, lr: 1.0e-2, log_every: 1}}
        eval:
          metrics: [psnr, {metric}]
    """))
    return cfg


def test_plugin_dataset_and_metric_train_and_evaluate_from_yaml(plugin_site, tmp_path):
    cfg = _config(tmp_path)
    res = run_cli(["config", "resolve", str(cfg)], pythonpath=plugin_site)
    assert res.returncode == 0, res.stderr
    assert "type: toy.frames" in res.stdout and "box: 3" in res.stdout
    run = tmp_path / "run"
    res = run_cli(["train", str(cfg), "--out", str(run), "--no-progress"], pythonpath=plugin_site)
    assert res.returncode == 0, res.stderr
    assert (run / "model.safetensors").is_file()
    res = run_cli(["eval", str(cfg), "--weights", str(run / "model.safetensors"), "--json"], pythonpath=plugin_site)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for row in report["images"]:
        assert set(row) >= {"name", "psnr", "toy.mae"}
        assert 0 < row["toy.mae"] < 1
    assert report["mean"]["toy.mae"] == pytest.approx(sum(r["toy.mae"] for r in report["images"]) / len(report["images"]))


def test_plugin_metric_value_against_direct_computation(plugin_site, monkeypatch):
    import sys

    monkeypatch.syspath_prepend(str(plugin_site))
    from restorekit.metrics import compute_metrics
    from restorekit.plugin_host import reset_host

    reset_host()
    try:
        a = torch.rand(2, 3, 8, 8)
        b = torch.rand(2, 3, 8, 8)
        expected = (a.double() - b.double()).abs().flatten(1).mean(dim=1)
        out = compute_metrics(a, b, {"protocol": "default", "metrics": ["psnr", "toy.mae"]})
        assert torch.allclose(out["toy.mae"], expected)
        out = compute_metrics(a, b, {"protocol": "default", "metrics": [{"type": "toy.mae", "scale": 2.0}]})
        assert torch.allclose(out["toy.mae"], 2 * expected) and set(out) == {"toy.mae"}
        # 8-bit protocol: images are rounded to uint8 first, then scaled back to [0, 1]
        out8 = compute_metrics(a, b, {"protocol": "gopro", "metrics": ["toy.mae"]})
        ra, rb = (torch.round(a.double().clamp(0, 1) * 255) / 255), (torch.round(b.double().clamp(0, 1) * 255) / 255)
        assert torch.allclose(out8["toy.mae"], (ra - rb).abs().flatten(1).mean(dim=1))
    finally:
        sys.modules.pop("restorekit_toy", None)
        reset_host()


def test_misspelt_plugin_dataset_and_metric_names(plugin_site, tmp_path):
    res = run_cli(["config", "validate", str(_config(tmp_path, dataset_type="toy.frame"))], pythonpath=plugin_site)
    assert res.returncode == 1
    assert "unknown dataset 'toy.frame'; did you mean 'toy.frames'?" in res.stderr
    other = tmp_path / "b"
    other.mkdir()
    res = run_cli(["config", "validate", str(_config(other, metric="toy.mea"))], pythonpath=plugin_site)
    assert res.returncode == 1
    assert "unknown metric 'toy.mea'; did you mean 'toy.mae'?" in res.stderr


def test_builtin_layouts_are_registered_datasets_of_the_standard_plugin():
    import restorekit

    names = {c["name"] for c in restorekit.list_components("dataset")}
    assert {f"standard.{n}" for n in ("paired", "gopro", "realblur", "dpdd", "lfdof", "synthetic")} <= names
    res = run_cli(["components", "show", "standard.paired"])
    assert res.returncode == 0, res.stderr
    assert "blurry_dir" in res.stdout and "split" not in res.stdout  # runtime keys are not options

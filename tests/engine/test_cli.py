"""``restorekit train`` end to end in subprocesses: the command, resume, and torchrun (DDP, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage.metrics import peak_signal_noise_ratio

import restorekit

from ..conftest import ROOT, run_cli
from .toys import save_pairs


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paired")
    save_pairs(root / "train", 16, seed=0)
    save_pairs(root / "val", 4, seed=1)
    return root


def _write_config(path: Path, data_root: Path, **train: object) -> Path:
    cfg = {
        "model": {"decoder": {"type": "standard.unet", "width": 8, "depth": 1}},
        "losses": [{"type": "standard.l1"}],
        "data": {
            "train": {"type": "paired", "root": str(data_root / "train")},
            "val": {"type": "paired", "root": str(data_root / "val")},
        },
        "train": {"lr": 1e-2, "batch_size": 4, "iterations": 40, "warmup_iters": 5, "log_every": 1, **train},
    }
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def _records(out: Path, kind: str) -> list[dict[str, float]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _identity_psnr(val_root: Path) -> float:
    """PSNR of the blurry inputs themselves (the zero-initialised residual U-Net is the identity)."""
    values = []
    for p in sorted((val_root / "sharp").iterdir()):
        sharp = np.asarray(Image.open(p))
        blurry = np.asarray(Image.open(val_root / "blur" / p.name))
        values.append(peak_signal_noise_ratio(sharp, blurry, data_range=255))
    return float(np.mean(values))


@pytest.mark.slow
def test_train_command_raises_validation_psnr(data_root: Path, tmp_path: Path):
    cfg = _write_config(tmp_path / "tiny.yaml", data_root, val_every=20, checkpoint_every=20)
    out = tmp_path / "run"
    proc = run_cli(["train", str(cfg), "--out", str(out), "--no-progress", "--device", "cpu"], env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "trained to iteration 40" in proc.stdout
    val = _records(out, "val")
    assert [r["iteration"] for r in val] == [20, 40]
    before = _identity_psnr(data_root / "val")
    assert val[-1]["psnr"] > before + 0.3, (before, val)
    # the run directory: checkpoints, TensorBoard events, the resolved config, final weights
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["iter_00000020", "iter_00000040"]
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").iterdir())
    pipe = restorekit.load_pipeline(out / "config.yaml")
    pipe.load_state_dict(load_file(str(out / "model.safetensors")))  # strict: the keys match the pipeline


def test_train_command_reports_a_missing_dataset_clearly(tmp_path: Path):
    cfg = tmp_path / "nodata.yaml"
    cfg.write_text(json.dumps({"model": {"decoder": {"type": "standard.unet", "width": 4}}, "train": {"iterations": 1}}))
    proc = run_cli(["train", str(cfg), "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert proc.returncode != 0
    assert "data.train: training needs a 'train' dataset" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_stop_and_resume_auto_through_the_command_line(data_root: Path, tmp_path: Path):
    cfg = _write_config(tmp_path / "tiny.yaml", data_root, iterations=12, checkpoint_every=4, ema=0.9)
    base = ["train", str(cfg), "--no-progress", "--device", "cpu"]
    env = {"OMP_NUM_THREADS": "1"}
    assert run_cli([*base, "--out", str(tmp_path / "full")], env=env).returncode == 0
    first = run_cli([*base, "--out", str(tmp_path / "split"), "--stop-after", "7"], env=env)
    assert first.returncode == 0 and "trained to iteration 7" in first.stdout, first.stderr
    assert not (tmp_path / "split" / "model.safetensors").exists(), "final weights only once training has finished"
    second = run_cli([*base, "--out", str(tmp_path / "split"), "--resume", "auto"], env=env)
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stdout + second.stderr
    a, b = load_file(str(tmp_path / "full" / "model.safetensors")), load_file(str(tmp_path / "split" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(data_root: Path, tmp_path: Path):
    """Equal global batch (4 = 2 ranks × 2): the same samples per step, gradients averaged by DDP.
    Two stages, so the DDP wrapper is rebuilt when the trainable set changes."""
    stages = [{"name": "frozen_head", "iterations": 4, "frozen": ["decoder.head"]}, {"name": "all", "iterations": 4}]
    cfg = _write_config(tmp_path / "tiny.yaml", data_root, val_every=8, ema=0.9, grad_accum=2, stages=stages)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTOREKIT_")}
    env["OMP_NUM_THREADS"] = "1"
    single = run_cli(["train", str(cfg), "--out", str(tmp_path / "one"), "--no-progress", "--device", "cpu"], env={"OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "restorekit", "train", str(cfg), "--out", str(tmp_path / "two"), "--no-progress", "--device", "cpu"],
        capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr[-4000:]
    assert ddp.stdout.count("trained to iteration 8") == 1, "only rank 0 reports"
    one, two = _records(tmp_path / "one", "train"), _records(tmp_path / "two", "train")
    assert [r["iteration"] for r in one] == [r["iteration"] for r in two] == list(range(1, 9))
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-4)
    assert _records(tmp_path / "two", "val")[-1]["psnr"] == pytest.approx(_records(tmp_path / "one", "val")[-1]["psnr"], abs=1e-3)
    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)

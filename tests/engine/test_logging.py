"""TensorBoard output: scalars and the blurry / restored / sharp / blur-map image grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from restorekit import ConfigError
from restorekit.engine.logging import RunLogger
from restorekit.engine.trainer import Trainer

from .toys import BoxBlurPairs


def test_scalars_images_and_jsonl(tmp_path: Path):
    log = RunLogger(tmp_path, total=2, initial=0, enabled=True, progress=False)
    x = torch.rand(3, 3, 8, 8)
    log.scalars(1, {"loss": 0.5, "lr": 1e-3})
    log.images(1, x, x * 0.5, x, blur_map=torch.rand(3, 1, 4, 4), max_images=2)
    log.close()
    acc = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"train/loss", "train/lr"}
    assert acc.Scalars("train/loss")[0].value == pytest.approx(0.5)
    assert set(acc.Tags()["images"]) == {"images/blurry", "images/restored", "images/sharp", "images/blur_map"}
    grid = acc.Images("images/blur_map")[0]
    # make_grid: 2 images of 8×8 with 2-pixel padding → 12 × 22
    assert (grid.height, grid.width) == (12, 22)
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert record["kind"] == "train" and record["iteration"] == 1 and record["loss"] == 0.5


def test_disabled_logger_writes_nothing(tmp_path: Path):
    log = RunLogger(tmp_path / "rank1", total=2, initial=0, enabled=False)
    log.scalars(1, {"loss": 1.0})
    log.images(1, torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), None, None)
    log.close()
    assert not (tmp_path / "rank1").exists()


def test_fp16_on_cpu_is_refused_with_a_fix():
    cfg = {"model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1}}, "train": {"amp": "fp16"}}
    with pytest.raises(ConfigError, match="fp16 needs CUDA; use amp: bf16"):
        Trainer(cfg, device="cpu", train_dataset=BoxBlurPairs(8), progress=False)

"""The shipped example configs: pipelines/examples/two_stage.yaml and progressive.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import restorekit
from restorekit.config import load_yaml
from restorekit.engine.settings import TrainSettings
from restorekit.engine.trainer import Trainer

from ..conftest import ROOT
from .toys import register_toys, save_pairs

EXAMPLES = ROOT / "pipelines" / "examples"


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


def _tiny_data(tmp_path: Path) -> dict[str, Any]:
    return {
        "data.train": {"type": "paired", "root": str(save_pairs(tmp_path / "train", 8, seed=0))},
        "data.val": {"type": "paired", "root": str(save_pairs(tmp_path / "val", 2, seed=1))},
    }


def test_two_stage_example_resolves_and_trains_both_stages(tmp_path: Path):
    resolved = restorekit.resolve_config(EXAMPLES / "two_stage.yaml")
    assert [s["name"] for s in resolved["train"]["stages"]] == ["decoder_only", "end_to_end"]
    overrides = {
        **_tiny_data(tmp_path),
        "model.encoder.widths": [4, 8, 16],
        "model.decoder.width": 4,
        "model.decoder.feature_channels": [4, 8, 16],
        "train.batch_size": 2,
        "train.warmup_iters": 1,
        "train.stages.0.iterations": 2,
        "train.stages.1.iterations": 1,
        "train.val_every": 0,
        "train.checkpoint_every": 0,
        "train.image_every": 1,
    }
    trainer = Trainer(EXAMPLES / "two_stage.yaml", overrides, out_dir=tmp_path / "run", device="cpu", progress=False)
    enc = [_snapshot(trainer.pipeline.encoder)]
    trainer.callbacks.append(lambda t: enc.append(_snapshot(t.pipeline.encoder)))
    summary = trainer.fit()
    assert summary["iteration"] == 3 and "psnr" in summary["val"]
    assert not _changed(enc[0], enc[2]), "stage 1 keeps the encoder frozen"
    assert _changed(enc[2], enc[3]), "stage 2 trains it"
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "run" / "tensorboard").iterdir())


def test_progressive_example_train_block_runs_on_a_chained_decoder(tmp_path: Path):
    """The file's `losses:` and `train:` blocks as written, on a 2-sub-decoder test decoder
    with the layout the example expects (``decoder.subdecoders``, intermediates last first)."""
    register_toys()
    raw = load_yaml(EXAMPLES / "progressive.yaml")
    settings = TrainSettings.from_config(raw["train"])
    assert [s.trainable for s in settings.effective_stages()] == [["decoder.subdecoders.0"], ["decoder.subdecoders.1"]]
    cfg = {**raw, "model": {"decoder": {"type": "enginetest.chain", "n": 2}}, "requires": None}
    overrides = {**_tiny_data(tmp_path), "train.iterations": 2, "train.batch_size": 2, "train.val_every": 0, "train.checkpoint_every": 0, "train.log_every": 1}
    trainer = Trainer(cfg, overrides, out_dir=tmp_path / "run", device="cpu", progress=False)
    subs = trainer.pipeline.decoder.subdecoders
    snaps = [[_snapshot(s) for s in subs]]
    trainer.callbacks.append(lambda t: snaps.append([_snapshot(s) for s in subs]) if t.iteration % 2 == 0 else None)
    trainer.fit()
    assert [_changed(snaps[0][i], snaps[1][i]) for i in range(2)] == [True, False]
    assert [_changed(snaps[1][i], snaps[2][i]) for i in range(2)] == [False, True]
    assert {k for h in trainer.history[:2] for k in h if k.startswith("loss/")} == {"loss/c1", "loss/e1", "loss/f1"}
    assert {k for h in trainer.history[2:] for k in h if k.startswith("loss/")} == {"loss/c2", "loss/e2", "loss/f2"}


def test_progressive_example_as_shipped_trains_one_subdecoder_at_a_time(tmp_path: Path):
    """The file exactly as shipped (standard.chained_unet), shrunk by overrides."""
    resolved = restorekit.resolve_config(EXAMPLES / "progressive.yaml")
    assert resolved["model"]["decoder"]["type"] == "standard.chained_unet"
    overrides = {
        **_tiny_data(tmp_path),
        "model.encoder.widths": [4, 8, 16],
        "model.decoder.width": 4,
        "train.iterations": 2, "train.batch_size": 2, "train.val_every": 0, "train.checkpoint_every": 0,
    }
    trainer = Trainer(EXAMPLES / "progressive.yaml", overrides, out_dir=tmp_path / "run", device="cpu", progress=False)
    subs = trainer.pipeline.decoder.subdecoders
    enc0 = _snapshot(trainer.pipeline.encoder)
    snaps = [[_snapshot(s) for s in subs]]
    trainer.callbacks.append(lambda t: snaps.append([_snapshot(s) for s in subs]) if t.iteration % 2 == 0 else None)
    trainer.fit()
    assert [_changed(snaps[0][i], snaps[1][i]) for i in range(2)] == [True, False]
    assert [_changed(snaps[1][i], snaps[2][i]) for i in range(2)] == [False, True]
    assert not _changed(enc0, _snapshot(trainer.pipeline.encoder)), "the encoder stays frozen"

"""Cross-paper mixes, each trained a few steps through the Trainer at tiny widths:
DRAMNet's Depth-Anything encoder + AIBNet's decoder, and AIBNet's NAFNet encoder + DRAMNet's
reversible decoder; pyramid mismatches fail when the pipeline is built, the explicit
conv1x1 adapter resolves them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import restorekit
from restorekit import PipelineError
from restorekit.engine.trainer import Trainer

from ..conftest import ROOT

PIPELINES = ROOT / "pipelines"
SAMPLES = ROOT / "core" / "data" / "samples" / "train"  # bundled:train
DATA = {"data": {"train": {"type": "synthetic", "root": str(SAMPLES), "crop": 112, "length": 8, "flips": True,
                           "degradations": [{"type": "motion_bf", "canvas": 9, "max_len": [3, 6], "fraction": 1.0}]}}}
SHORT = {"train.batch_size": 2, "train.val_every": 0, "train.checkpoint_every": 0, "train.log_every": 1}
DA_TINY = {"model.encoder.variant": "tiny", "model.encoder.weights": None, "model.encoder.channels": [8, 16, 32, 64, 128]}
AIB_TINY = {"model.decoder.width": 8, "model.decoder.num_blocks": 1}


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def _trainer(path: Path, overrides: dict, tmp_path: Path) -> Trainer:
    return Trainer(path, {**DATA, **SHORT, **overrides}, out_dir=tmp_path / "run", device="cpu", progress=False)


def test_depth_anything_encoder_with_aibnet_decoder_trains_progressively(tmp_path: Path) -> None:
    overrides = {**DA_TINY, **AIB_TINY, "train.stages.0.iterations": 1, "train.stages.1.iterations": 1}
    trainer = _trainer(PIPELINES / "mix_depth_anything_aibnet.yaml", overrides, tmp_path)
    pipe = trainer.pipeline
    parts = {"vit": pipe.encoder.pretrained, "adapter": pipe.encoder.adapter,
             "sub0": pipe.decoder.subdecoders[0], "sub1": pipe.decoder.subdecoders[1]}
    snaps = [{k: _snapshot(m) for k, m in parts.items()}]
    trainer.callbacks.append(lambda t: snaps.append({k: _snapshot(m) for k, m in parts.items()}))
    summary = trainer.fit()
    assert summary["iteration"] == 2 and torch.isfinite(torch.tensor(summary["loss"]))
    assert all(_same(snaps[0]["vit"], s["vit"]) for s in snaps), "the ViT stays frozen"
    assert not _same(snaps[0]["adapter"], snaps[1]["adapter"]) and not _same(snaps[0]["sub0"], snaps[1]["sub0"])
    assert _same(snaps[0]["sub1"], snaps[1]["sub1"])
    assert _same(snaps[1]["adapter"], snaps[2]["adapter"]) and _same(snaps[1]["sub0"], snaps[2]["sub0"])
    assert not _same(snaps[1]["sub1"], snaps[2]["sub1"])
    x = torch.rand(1, 3, 112, 112)
    assert pipe.restore(x).shape == x.shape


def test_depth_anything_pyramid_mismatch_is_a_build_error_and_the_adapter_resolves_it(tmp_path: Path) -> None:
    wide = {**DA_TINY, **AIB_TINY, "model.encoder.channels": [16, 32, 64, 128, 256]}
    cfg = restorekit.resolve_config(PIPELINES / "mix_depth_anything_aibnet.yaml", wide)
    with pytest.raises(PipelineError, match=r"dramnet.depth_anything provides 'features'.*channels=\[16, 32, 64, 128, 256\].*feature_adapter: conv1x1"):
        restorekit.load_pipeline(cfg)
    adapted = {**wide, "model.decoder.feature_adapter": "conv1x1", "model.decoder.feature_channels": [16, 32, 64, 128, 256],
               "train.stages.0.trainable": ["encoder.adapter", "decoder.adapter", "decoder.subdecoders.0"],
               "train.stages.0.iterations": 1, "train.stages.1.iterations": 1}
    trainer = _trainer(PIPELINES / "mix_depth_anything_aibnet.yaml", adapted, tmp_path)
    adapter = trainer.pipeline.decoder.adapter
    assert [c.in_channels for c in adapter] == [16, 32, 64, 128, 256] and [c.out_channels for c in adapter] == [8, 16, 32, 64, 128]
    before = _snapshot(adapter)
    trainer.fit()
    assert not _same(before, _snapshot(adapter)), "the decoder's 1×1 adapter trains with sub-decoder 1"


def test_nafnet_encoder_with_reversible_decoder_trains(tmp_path: Path) -> None:
    overrides = {
        "model.encoder.width": 8, "model.encoder.enc_blocks": [1, 1, 1, 1], "model.encoder.weights": None,
        "model.blur_estimator.width": 8, "model.decoder.channels": [64, 32, 16, 8], "model.decoder.num_subdecoders": 2,
        "train.iterations": 2,
    }
    trainer = _trainer(PIPELINES / "mix_nafnet_reversible.yaml", overrides, tmp_path)
    pipe = trainer.pipeline
    enc0, dec0, bme0 = _snapshot(pipe.encoder), _snapshot(pipe.decoder), _snapshot(pipe.blur_estimators[0])
    summary = trainer.fit()
    assert summary["iteration"] == 2 and torch.isfinite(torch.tensor(summary["loss"]))
    assert _same(enc0, _snapshot(pipe.encoder)), "the NAFNet encoder stays frozen"
    assert not _same(dec0, _snapshot(pipe.decoder)) and not _same(bme0, _snapshot(pipe.blur_estimators[0]))
    x = torch.rand(1, 3, 112, 112)
    assert pipe.restore(x).shape == x.shape


def test_nafnet_reversible_pyramid_mismatch_is_a_build_error() -> None:
    cfg = restorekit.resolve_config(
        PIPELINES / "mix_nafnet_reversible.yaml",
        {"model.encoder.width": 16, "model.encoder.enc_blocks": [1, 1, 1, 1], "model.encoder.weights": None,
         "model.blur_estimator.width": 8, "model.decoder.channels": [64, 32, 16, 8]},
    )
    with pytest.raises(PipelineError, match=r"aibnet.nafnet_encoder provides 'features'.*channels=\[16, 32, 64, 128, 256\]"):
        restorekit.load_pipeline(cfg)

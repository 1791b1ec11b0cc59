"""The AIBNet pipelines: the paper configurations (S/B/L) resolve and build with the spec's
parameter counts, their losses supervise each sub-decoder's own output, and progressive
training through the real Trainer leaves earlier sub-decoders bit-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import restorekit
from restorekit.engine.stages import plan_stages
from restorekit.engine.settings import TrainSettings
from restorekit.engine.trainer import Trainer

from ..conftest import ROOT, run_cli

PIPELINES = ROOT / "pipelines"
TINY_MODEL = {
    "model.encoder.width": 8, "model.encoder.enc_blocks": [1, 1, 1, 1], "model.encoder.weights": None,
    "model.decoder.width": 8, "model.decoder.num_blocks": 1,
}


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("variant, subs", [("s", 1), ("b", 2), ("l", 4)])
def test_paper_pipelines_build_with_the_spec_counts(variant: str, subs: int) -> None:
    path = PIPELINES / f"aibnet_{variant}.yaml"
    resolved = restorekit.resolve_config(path)
    assert resolved["model"]["encoder"]["weights"].endswith("NAFNet-GoPro-width64.pth")
    with torch.device("meta"):
        pipe = restorekit.load_pipeline(path, overrides=["model.encoder.weights=null"])
    assert sum(p.numel() for p in pipe.encoder.parameters()) == 62_633_024
    assert not any(p.requires_grad for p in pipe.encoder.parameters())
    assert len(pipe.decoder.subdecoders) == subs
    assert sum(p.numel() for p in pipe.decoder.parameters()) == subs * 40_971_642
    train = resolved["train"]
    assert (train["optimizer"], train["lr"], train["min_lr"], train["betas"], train["schedule"]) == ("adam", 2e-4, 1e-7, [0.9, 0.999], "cosine")
    assert (train["batch_size"], resolved["data"]["train"]["crop"], resolved["data"]["train"]["flips"]) == (32, 256, True)
    stages = TrainSettings.from_config(train).effective_stages()
    assert [s.trainable for s in stages] == [[f"decoder.subdecoders.{k}"] for k in range(subs)]
    assert all(s.iterations in (None, 400_000) for s in stages) and train["iterations"] == 400_000
    plans = plan_stages(pipe, stages)  # every path and loss name resolves
    assert [p.losses for p in plans] == [[f"c{k}", f"e{k}", f"f{k}"] for k in range(1, subs + 1)]
    losses = {spec["name"]: spec for spec in resolved["losses"]}
    for k in range(1, subs + 1):
        c, e, f = losses[f"c{k}"], losses[f"e{k}"], losses[f"f{k}"]
        assert (c.get("weight", 1.0), e["weight"], f["weight"], c["eps"], f["transform"]) == (1.0, 0.05, 0.1, 1e-3, "rfft2")
        if subs > 1:  # Î_k is intermediates[subs − k] (last first)
            onehot = [1.0 if i == subs - k else 0.0 for i in range(subs)]
            assert c["scale_weights"] == e["scale_weights"] == f["scale_weights"] == onehot


def test_missing_encoder_weights_is_a_clear_error() -> None:
    with pytest.raises(restorekit.ConfigError, match=r"NAFNet-GoPro-width64\.pth' does not exist.*megvii-research/NAFNet"):
        restorekit.load_pipeline(PIPELINES / "aibnet_s.yaml", overrides=["model.encoder.width=8", "model.encoder.enc_blocks=[1,1,1,1]"])


def _fit_recording(trainer: Trainer) -> list[dict[str, dict[str, torch.Tensor]]]:
    pipe = trainer.pipeline
    parts = {"encoder": pipe.encoder, **{f"sub{i}": s for i, s in enumerate(pipe.decoder.subdecoders)}}
    snaps = [{k: _snapshot(m) for k, m in parts.items()}]
    trainer.callbacks.append(lambda t: snaps.append({k: _snapshot(m) for k, m in parts.items()}))
    trainer.fit()
    return snaps


def test_progressive_training_keeps_earlier_subdecoders_bit_identical(tmp_path: Path) -> None:
    """aibnet_b.yaml's losses and stages as shipped (tiny widths, the tiny data): stage 1
    trains sub-decoder 1 only, stage 2 sub-decoder 2 only; the frozen encoder never changes;
    frozen parts keep their BatchNorm statistics (eval mode)."""
    tiny = restorekit.resolve_config(PIPELINES / "aibnet_tiny.yaml")
    overrides = {
        **TINY_MODEL,
        "data": {"train": {**tiny["data"]["train"], "crop": 32, "length": 16}},
        "train.stages.0.iterations": 2, "train.stages.1.iterations": 2, "train.batch_size": 2,
        "train.val_every": 0, "train.checkpoint_every": 0, "train.log_every": 1,
    }
    trainer = Trainer(PIPELINES / "aibnet_b.yaml", overrides, out_dir=tmp_path / "run", device="cpu", progress=False)
    snaps = _fit_recording(trainer)
    assert len(snaps) == 5
    for i in range(4):
        assert _same(snaps[i]["encoder"], snaps[i + 1]["encoder"]), "the frozen encoder never changes"
    for i in (0, 1):  # stage 1
        assert not _same(snaps[i]["sub0"], snaps[i + 1]["sub0"])
        assert _same(snaps[i]["sub1"], snaps[i + 1]["sub1"])
    for i in (2, 3):  # stage 2
        assert _same(snaps[i]["sub0"], snaps[i + 1]["sub0"]), "sub-decoder 1 stays bit-identical while sub-decoder 2 trains"
        assert not _same(snaps[i]["sub1"], snaps[i + 1]["sub1"])
    bn = [k for k in snaps[0]["sub0"] if k.endswith("running_mean")]
    assert bn and any(not torch.equal(snaps[0]["sub0"][k], snaps[2]["sub0"][k]) for k in bn), "stage 1 updates its BN statistics"
    assert {k for h in trainer.history[:2] for k in h if k.startswith("loss/")} == {"loss/c1", "loss/e1", "loss/f1"}
    assert {k for h in trainer.history[2:] for k in h if k.startswith("loss/")} == {"loss/c2", "loss/e2", "loss/f2"}


def test_tiny_pipeline_data_and_train_sections_run_as_shipped(tmp_path: Path) -> None:
    """aibnet_tiny.yaml with only the iteration counts shortened: stage 1 trains the tiny
    encoder with sub-decoder 1, stage 2 sub-decoder 2 alone (encoder and sub-decoder 1 frozen)."""
    overrides = {"train.stages.0.iterations": 3, "train.stages.1.iterations": 3}
    trainer = Trainer(PIPELINES / "aibnet_tiny.yaml", overrides, out_dir=tmp_path / "run", device="cpu", progress=False)
    assert len(trainer.val_dataset) > 0
    snaps = _fit_recording(trainer)
    # stage 1 (iterations 1-3; the zero-initialised heads pass no gradient back in the first step)
    assert not _same(snaps[0]["encoder"], snaps[3]["encoder"]) and not _same(snaps[0]["sub0"], snaps[3]["sub0"])
    assert _same(snaps[0]["sub1"], snaps[3]["sub1"])
    for i in (3, 4, 5):  # stage 2
        assert _same(snaps[i]["encoder"], snaps[i + 1]["encoder"]) and _same(snaps[i]["sub0"], snaps[i + 1]["sub0"])
    assert not _same(snaps[3]["sub1"], snaps[6]["sub1"])
    assert (tmp_path / "run" / "model.safetensors").is_file()


@pytest.mark.parametrize("name", ["aibnet.nafnet_encoder", "aibnet.decoder"])
def test_components_show_prints_choices(name: str) -> None:
    result = run_cli(["components", "show", name])
    assert result.returncode == 0, result.stderr
    assert "choices:" in result.stdout
    choices = result.stdout.split("choices:")[1].split("options:")[0]
    assert choices.count("- ") >= 4 and "spec §" in choices

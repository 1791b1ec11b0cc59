"""The DRAMNet pipelines: the paper YAML, the four Table-4 variants and the BME + RKR mix build
and train a few steps at tiny widths; the tiny pipeline's data/train sections run as shipped;
the two-stage schedule freezes what it should; the BME receives gradients in the mix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import restorekit
from restorekit import InputError
from restorekit.engine.trainer import Trainer

from ..conftest import ROOT

PIPELINES = ROOT / "pipelines"
DATA = {
    "data": {
        "train": {"type": "synthetic", "root": "bundled:train", "crop": 112, "length": 8, "flips": True,
                  "degradations": [{"type": "motion_bf", "canvas": 9, "max_len": [3.0, 6.0], "fraction": 1.0}]},
    }
}
SHORT = {"train.batch_size": 2, "train.val_every": 0, "train.checkpoint_every": 0, "train.log_every": 1, "train.amp": "off"}
TINY = {
    "model.encoder.variant": "tiny",
    "model.encoder.channels": [4, 8, 16, 32, 64],
    "model.blur_estimator.in_channels": 64,
    "model.blur_estimator.width": 8,
    "model.decoder.channels": [32, 16, 8, 4],
    "model.decoder.num_subdecoders": 2,
}


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def tiny_official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 'tiny' Depth-Anything checkpoint in the official key layout (random weights)."""
    from restorekit.plugins.dramnet.depth_anything import DepthAnythingV2
    from restorekit.plugins.dramnet.vit import VARIANTS

    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("da") / "depth_anything_v2_tiny.pth"
    torch.save(DepthAnythingV2(VARIANTS["tiny"]).state_dict(), path)
    return path


def test_paper_pipeline_resolves_and_names_its_files() -> None:
    cfg = restorekit.resolve_config(PIPELINES / "dramnet.yaml")
    assert cfg["model"]["encoder"]["weights"] == "weights/depth_anything_v2_vits.pth"
    weights = {spec["name"]: spec.get("weight", 1.0) for spec in cfg["losses"]}
    assert weights == {"l1": 1.0, "gradient": 0.5, "depth_ssim": 0.3, "perceptual": 0.1, "blur_map": 0.2, "silog": 1.0}
    assert cfg["train"]["lr"] == 3e-4 and cfg["train"]["min_lr"] == 1e-6 and cfg["train"]["weight_decay"] == 1e-4
    assert cfg["train"]["batch_size"] == 32 and cfg["train"]["amp"] == "bf16" and cfg["data"]["train"]["crop"] == 224
    s1, s2 = cfg["train"]["stages"]
    assert s1["iterations"] == 60000 and s1["losses"] == ["silog"] and s1["trainable"] == ["encoder.pretrained", "encoder.depth_head"]
    assert s2["frozen"] == ["encoder.depth_head"] and "silog" not in s2["losses"]
    with pytest.raises(restorekit.ConfigError, match="Depth-Anything-V2-Small"):
        restorekit.load_pipeline(PIPELINES / "dramnet.yaml")  # the official file is not here: a clear error


@pytest.mark.parametrize("depth_init", [True, False], ids=["depth-init", "random-init"])
@pytest.mark.parametrize("blur_map", [True, False], ids=["blur-map", "no-blur-map"])
def test_table4_variants_build_and_train(tmp_path: Path, tiny_official: Path, depth_init: bool, blur_map: bool) -> None:
    overrides = {
        **DATA, **SHORT, **TINY,
        "model.encoder.weights": str(tiny_official),
        "model.encoder.depth_init": depth_init,
        "model.decoder.use_blur_map": blur_map,
        "losses.2.teacher_variant": "tiny", "losses.2.teacher_weights": str(tiny_official),
        "losses.3.weights": None,
        "losses.5.teacher_variant": "tiny", "losses.5.teacher_weights": str(tiny_official),
        "train.stages.0.iterations": 1, "train.stages.1.iterations": 1,
    }
    with pytest.warns(UserWarning, match="randomly initialised"):  # the perceptual loss without a VGG file
        trainer = Trainer(PIPELINES / "dramnet.yaml", overrides, out_dir=tmp_path / "run", device="cpu", progress=False)
    pipe = trainer.pipeline
    official = torch.load(tiny_official, weights_only=True)
    loaded = torch.equal(pipe.encoder.pretrained.pos_embed, official["pretrained.pos_embed"])
    assert loaded == depth_init
    assert ("map" in pipe.decoder.requires) == blur_map
    assert pipe.size_multiple == 112
    parts = {"vit": pipe.encoder.pretrained, "head": pipe.encoder.depth_head, "decoder": pipe.decoder, "bme": pipe.blur_estimators[0]}
    snaps = [{k: _snapshot(m) for k, m in parts.items()}]
    trainer.callbacks.append(lambda t: snaps.append({k: _snapshot(m) for k, m in parts.items()}))
    summary = trainer.fit()
    assert summary["iteration"] == 2 and torch.isfinite(torch.tensor(summary["loss"]))
    # stage 1 (SI-log) trains the ViT and the depth head only; stage 2 freezes the head
    assert _changed(snaps[0]["vit"], snaps[1]["vit"]) and _changed(snaps[0]["head"], snaps[1]["head"])
    assert not _changed(snaps[0]["decoder"], snaps[1]["decoder"])
    assert not _changed(snaps[1]["head"], snaps[2]["head"])
    assert _changed(snaps[1]["decoder"], snaps[2]["decoder"]) and _changed(snaps[1]["vit"], snaps[2]["vit"])
    assert _changed(snaps[1]["bme"], snaps[2]["bme"])  # the blur-map loss trains the BME either way
    x = torch.rand(1, 3, 112, 112)
    assert pipe.restore(x).shape == x.shape
    with pytest.raises(InputError, match="divisible by 112"):
        pipe.restore(torch.rand(1, 3, 224, 210))


def test_tiny_pipeline_data_and_train_sections_run_as_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the shipped data roots (bundled:train, bundled:demo) work from any directory
    trainer = Trainer(PIPELINES / "dramnet_tiny.yaml", {"train.stages.0.iterations": 1, "train.stages.1.iterations": 2},
                      out_dir=tmp_path / "run", device="cpu", progress=False)
    assert len(trainer.val_dataset) == 6
    summary = trainer.fit()
    assert summary["iteration"] == 3 and "psnr" in summary["val"]
    sample = trainer.train_dataset[0]
    assert sample["blurry"].shape == (3, 112, 112)


def test_bme_neumann_mix_builds_trains_and_the_bme_gets_gradients(tmp_path: Path) -> None:
    small = {
        "model.blur_estimator.0.width": 8,
        "model.blur_estimator.1.widths": [4, 8, 8], "model.blur_estimator.1.num_kernels": 3,
        "model.operator.num_kernels": 3,
        "train.iterations": 2,
    }
    trainer = Trainer(PIPELINES / "bme_neumann.yaml", {**DATA, **SHORT, **small}, out_dir=tmp_path / "run", device="cpu", progress=False)
    pipe = trainer.pipeline
    bme, coeff = pipe.blur_estimators
    assert type(bme).__name__ == "LaplacianBME" and bme.input == "image" and coeff.condition_on_map
    assert pipe.size_multiple == 112
    # gradients reach the BME from NRKNet's losses alone, through the conditioned coefficients:
    # every parameter of block 0 (whose map B_pred^0 conditions nrknet.coefficients) gets a
    # finite gradient, non-zero overall; blocks 1–3 only serve the multi-scale blur-map loss
    batch = {"blurry": torch.rand(2, 3, 112, 112), "sharp": torch.rand(2, 3, 112, 112)}
    out = pipe(batch)
    total, _ = pipe.loss(out, batch, active=["nrknet.multiscale"])
    grads = torch.autograd.grad(total, list(bme.blocks[0].parameters()), allow_unused=True)
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    before = _snapshot(bme)
    summary = trainer.fit()
    assert summary["iteration"] == 2 and torch.isfinite(torch.tensor(summary["loss"]))
    assert _changed(before, _snapshot(bme))


def test_bundled_tiny_weights_improve_on_held_out_images() -> None:
    from restorekit.plugins.dramnet import TINY_WEIGHTS

    if not TINY_WEIGHTS.is_file():
        pytest.skip("dramnet.tiny weights are not bundled in this checkout")
    from restorekit.weights import bundled_weights, read_card

    assert "dramnet.tiny" in bundled_weights()
    card = read_card(TINY_WEIGHTS)
    assert card is not None and card.val_psnr > card.val_input_psnr and card.name == "dramnet.tiny"
    assert TINY_WEIGHTS.stat().st_size < 5e6
    pipe = restorekit.load_pipeline(card.pipeline)
    restorekit.load_weights(pipe, "dramnet.tiny")
    from restorekit.data import build_dataset

    ds = build_dataset(card.pipeline["data"], "val", int(card.pipeline["train"]["seed"]))
    sample = ds[0]
    restored = pipe.restore(sample["blurry"][None]).clamp(0, 1)[0]

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(-10 * torch.log10(((a - b) ** 2).mean()))

    assert psnr(restored, sample["sharp"]) > psnr(sample["blurry"], sample["sharp"]) + 0.5

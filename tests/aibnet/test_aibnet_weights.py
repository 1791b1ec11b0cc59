"""The bundled aibnet.tiny weights: registered with a model card, load strictly into the card's
pipeline, and beat the blurry input on held-out images (never used in training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import restorekit
from restorekit.cli import main
from restorekit.data import build_dataset
from restorekit.functional import conv2d
from restorekit.plugins.aibnet import TINY_BLIND_WEIGHTS, TINY_WEIGHTS
from restorekit.psf import motion_bf
from restorekit.weights import entry_for

from ..conftest import ROOT

HELD_OUT = ROOT / "core" / "data" / "samples" / "demo"  # bundled:demo
TRAIN = ROOT / "core" / "data" / "samples" / "train"  # bundled:train


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a.double() - b.double()) ** 2).mean()))


def test_registered_with_a_card() -> None:
    assert TINY_WEIGHTS.is_file() and TINY_WEIGHTS.stat().st_size < 5e6
    entry = entry_for("aibnet.tiny")  # registered by the plugin's register_weights hook
    assert Path(entry.path) == TINY_WEIGHTS
    card = restorekit.read_card(TINY_WEIGHTS)
    assert card is not None and card.name == "aibnet.tiny" and card.task == "motion" and card.licence == "MIT"
    assert card.val_psnr > card.val_input_psnr + 3
    assert card.pipeline["model"]["decoder"]["type"] == "aibnet.decoder"
    assert "aibnet_train_tiny.py" in card.command and card.steps == 1200
    # the validation images are not among the training images
    held = {p.stem for p in HELD_OUT.glob("*.png")}
    assert held and not held & {p.stem for p in TRAIN.glob("*.png")}
    assert card.pipeline["data"]["val"]["root"] == "bundled:demo"
    assert card.pipeline["data"]["train"]["root"] == "bundled:train"


def test_restores_held_out_images_better_than_the_blurry_input() -> None:
    card = restorekit.read_card(TINY_WEIGHTS)
    pipe = restorekit.load_pipeline(card.pipeline)
    restorekit.load_weights(pipe, TINY_WEIGHTS)  # strict
    pipe.eval()
    val = build_dataset({"val": {**card.pipeline["data"]["val"], "root": str(HELD_OUT), "length": 3}}, "val", 0)
    gains = []
    with torch.no_grad():
        for i in range(len(val)):
            s = val[i]
            restored = pipe({"blurry": s["blurry"][None]}).restored[0].clamp(0, 1)
            gains.append(_psnr(restored, s["sharp"]) - _psnr(s["blurry"], s["sharp"]))
    assert min(gains) > 2.0, gains


def test_deblur_cli_with_the_bundled_name(tmp_path: Path) -> None:
    sharp = torch.from_numpy(np.asarray(Image.open(HELD_OUT / "coffee.png").convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    sharp = sharp[:, 20:120, 30:150]  # 100×120: not a multiple of 16 (the encoder reflect-pads, the decoder crops)
    k = motion_bf(seed=100, canvas=15, max_len=10.0, fraction=1.0).float()
    blurry = conv2d(sharp[None], k[None, None], boundary="reflect")[0].clamp(0, 1)
    Image.fromarray((blurry.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(tmp_path / "b.png")
    assert main(["deblur", str(tmp_path / "b.png"), "-o", str(tmp_path / "out"), "--pipeline", "aibnet.tiny", "--device", "cpu"]) == 0
    out = torch.from_numpy(np.asarray(Image.open(tmp_path / "out" / "b.png"), dtype=np.float32) / 255).permute(2, 0, 1)
    b8 = torch.from_numpy(np.asarray(Image.open(tmp_path / "b.png"), dtype=np.float32) / 255).permute(2, 0, 1)
    assert out.shape == sharp.shape
    assert _psnr(out, sharp) > _psnr(b8, sharp) + 1.0


def test_blind_variant_card_and_held_out_numbers() -> None:
    """aibnet.tiny_blind: the same network trained on camera shake or defocus; its card holds
    the held-out Set3C numbers (benchmarks/bundled_models.py) and it beats the blurry input on
    both blur types there."""
    card = restorekit.read_card(TINY_BLIND_WEIGHTS)
    assert card.name == "aibnet.tiny_blind" and card.task == "motion+defocus"
    assert card.pipeline["name"] == "aibnet_tiny_blind" and "--blind" in card.command
    assert card.pipeline["data"]["train"]["degradations"][0]["type"] == "one_of"
    m = card.metrics
    assert m["heldout_motion_psnr"] > m["heldout_motion_input_psnr"]
    assert m["heldout_defocus_psnr"] > m["heldout_defocus_input_psnr"]
    pipe = restorekit.load_pipeline(card.pipeline)
    restorekit.load_weights(pipe, TINY_BLIND_WEIGHTS)

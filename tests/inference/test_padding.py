"""Padding to the size multiple: bottom/right (default) or centred (the official NRKNet test
loader), for single-pass and tiled inference, checked against an independent transcription
of the official NRKNet forward (tests/nrknet/official_reference.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import restorekit
from restorekit.cli import main
from restorekit.inference.deblur import deblur_image, pad_image, pad_to_multiple
from restorekit.inference.tiling import tiled_apply

from ..conftest import ROOT
from ..nrknet.official_reference import nrknet_reference


def test_pad_positions() -> None:
    x = torch.arange(2 * 3 * 10 * 13, dtype=torch.float64).reshape(2, 3, 10, 13)
    br, box = pad_image(x, 8)
    assert br.shape[-2:] == (16, 16) and box == (0, 0, 10, 13)
    assert torch.equal(br[..., :10, :13], x) and torch.equal(br, F.pad(x, (0, 3, 0, 6), mode="reflect"))
    assert torch.equal(pad_to_multiple(x, 8)[0], br) and pad_to_multiple(x, 8)[1] == (10, 13)  # the old API
    c, box = pad_image(x, 8, position="center")
    assert c.shape[-2:] == (16, 16) and box == (3, 1, 10, 13)
    assert torch.equal(c, F.pad(x, (1, 2, 3, 3), mode="reflect"))  # odd remainders: the extra pixel at the bottom/right
    assert torch.equal(c[..., 3:13, 1:14], x)
    same, box = pad_image(x[..., :8, :8], 8, position="center")
    assert box == (0, 0, 8, 8) and torch.equal(same, x[..., :8, :8])
    tiny, box = pad_image(x[..., :2, :3], 8, position="center")  # pads longer than the side: replicate
    assert tiny.shape[-2:] == (8, 8) and torch.equal(tiny[..., box[0]:box[0] + 2, box[1]:box[1] + 3], x[..., :2, :3])
    with pytest.raises(restorekit.ConfigError, match="center"):
        pad_image(x, 8, position="middle")


def _official_test_path(pipe_state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The official test loader and forward: reflect-pad by ((16·⌈h/16⌉ − h)/2) on each side, one
    pass of the network, then (our choice, spec §3) crop the centre back."""
    h, w = x.shape[-2:]
    ph, pw = (int(np.ceil(h / 16) * 16) - h) // 2, (int(np.ceil(w / 16) * 16) - w) // 2
    padded = F.pad(x, (pw, pw, ph, ph), mode="reflect")
    assert padded.shape[-1] % 16 == 0 and padded.shape[-2] % 16 == 0  # even remainders in this test
    out, _ = nrknet_reference(padded, pipe_state)
    return out[..., ph : ph + h, pw : pw + w]


@pytest.fixture(scope="module")
def nrknet_tiny():
    from restorekit.plugins.nrknet.convert import to_official_state_dict

    pipe = restorekit.load_pipeline(ROOT / "pipelines" / "nrknet.yaml", overrides=["model.blur_estimator.widths=[8,16,32]"])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in pipe.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))  # away from the identity initialisation
    pipe = pipe.double().eval()
    state = to_official_state_dict(pipe.blur_estimators[0], pipe.operator, channel_order="bgr")  # no channel swap
    return pipe, state


def test_nrknet_centred_single_pass_matches_the_official_test_path(nrknet_tiny) -> None:
    pipe, state = nrknet_tiny
    x = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = _official_test_path(state, x)
    got = deblur_image(pipe, x, pad="center")
    assert (expected - x).abs().max() > 1e-2  # not vacuous
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-6)  # deblur returns float32
    other = deblur_image(pipe, x, pad="bottom-right")
    assert (other.double() - expected).abs().max() > 1e-3  # the position matters for this model


def test_nrknet_centred_tiled_matches_the_official_path_per_window(nrknet_tiny) -> None:
    """Each window (40×48, padded centred to 48×48) is the official test path; the windows are
    blended by restorekit's feathering. NRKNet's receptive field is far larger than any
    practical overlap, so tiled ≠ single pass — tiling is for images that do not fit."""
    pipe, state = nrknet_tiny
    x = torch.rand(1, 3, 40, 72, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    got = deblur_image(pipe, x, tile=48, overlap=16, pad="center")
    expected = tiled_apply(lambda window: _official_test_path(state, window), x, 48, 16, multiple=16)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-6)


def test_cli_pad_option(tmp_path: Path) -> None:
    tiny = ROOT / "pipelines" / "tiny.yaml"
    pipe = restorekit.load_pipeline(tiny)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in pipe.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    restorekit.save_weights(pipe, tmp_path / "w.safetensors")
    arr = np.random.default_rng(0).integers(0, 256, (21, 30, 3), dtype=np.int64).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    k = np.zeros((3, 3))
    k[1, :] = 1 / 3
    np.save(tmp_path / "k.npy", k)
    outs = {}
    for pad in ("bottom-right", "center"):
        assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / f"{pad}.png"), "--pipeline", str(tiny),
                     "--weights", str(tmp_path / "w.safetensors"), "--kernel", str(tmp_path / "k.npy"), "--device", "cpu",
                     "--pad", pad]) == 0
        outs[pad] = np.asarray(Image.open(tmp_path / f"{pad}.png"))
        x = torch.from_numpy(arr.transpose(2, 0, 1) / 255.0).float()[None]
        ref = deblur_image(pipe.eval(), x, kernel=torch.from_numpy(k).float()[None, None], pad=pad)
        assert np.array_equal(outs[pad], np.round(ref[0].clamp(0, 1).numpy().transpose(1, 2, 0) * 255).astype(np.uint8))
    assert not np.array_equal(outs["bottom-right"], outs["center"])

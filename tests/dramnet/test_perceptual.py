"""standard.perceptual (DRAMNet eq. 7): torchvision's VGG-19 layers 3, 8, 15, loading from a
local file, clear errors, independence from the pipeline state dict, conformance.

(Kept with the DRAMNet tests: the loss was added for DRAMNet.)"""

from __future__ import annotations

import warnings

import pytest
import torch

import restorekit
from restorekit import ConfigError
from restorekit.testing.conformance import check_loss


def _loss(**opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return restorekit.create("standard.perceptual", **opts)


def test_layers_are_torchvisions_relu1_2_relu2_2_relu3_3() -> None:
    from torchvision.models import vgg19

    with torch.device("meta"):
        ref = vgg19(weights=None).features
    loss = _loss()
    assert loss.layers == [3, 8, 15]
    assert len(loss.vgg) == 16  # truncated after relu3_3
    for i in (3, 8, 15):
        assert isinstance(loss.vgg[i], torch.nn.ReLU) and isinstance(ref[i], torch.nn.ReLU)
    for i, (a, b) in enumerate(zip(loss.vgg, ref)):
        assert type(a) is type(b), i
        if isinstance(a, torch.nn.Conv2d):
            assert a.weight.shape == b.weight.shape and a.padding == b.padding
    assert [loss.vgg[i].weight.shape[0] for i in (2, 7, 14)] == [64, 128, 256]


def test_equals_explicit_vgg_feature_mse(tmp_path) -> None:
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"])  # vgg19(weights=None).features, without its 120 M-parameter classifier
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # the torchvision file also has the classifier: ignored
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    loss = _loss(weights=str(path))
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    fa, fb, expect = (a - mean) / std, (b - mean) / std, 0.0
    with torch.no_grad():
        for i, layer in enumerate(features[:16]):
            fa, fb = layer(fa.clone()), layer(fb.clone())
            if i in (3, 8, 15):
                expect = expect + torch.nn.functional.mse_loss(fa, fb)
    out = restorekit.PipelineOutput(restored=a, decoder=restorekit.DecoderOutput(restored=a), estimate=restorekit.BlurEstimate())
    torch.testing.assert_close(loss(out, {"sharp": b}), expect, rtol=1e-5, atol=1e-7)
    assert list(loss.state_dict()) == [] and list(loss.parameters()) == []  # frozen and not part of the pipeline weights


def test_missing_and_wrong_files_are_clear(tmp_path) -> None:
    with pytest.raises(ConfigError, match="vgg19-dcbb9e9d.pth"):
        _loss(weights=str(tmp_path / "none.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(ConfigError, match="missing keys"):
        _loss(weights=str(bad))
    with pytest.raises(ConfigError, match="layers"):
        _loss(layers=[3, 3])


def test_random_init_warns() -> None:
    with pytest.warns(UserWarning, match="randomly initialised"):
        restorekit.create("standard.perceptual")


def test_conformance() -> None:
    check_loss(_loss(), shape=(2, 3, 16, 16))

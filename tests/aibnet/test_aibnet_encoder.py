"""aibnet.nafnet_encoder: exact parameter counts (spec §1), the official checkpoint layout,
the taps against an independent implementation of the official forward, freezing, padding,
errors, conformance and gradcheck."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import ConfigError, InputError
from restorekit.plugins.aibnet.encoder import (
    NAFNetEncoder,
    load_nafnet_checkpoint,
    nafnet_encoder_state_dict,
    read_nafnet_checkpoint,
)
from restorekit.testing import check_encoder

from .official_nafnet import official_encoder_taps, official_nafnet_shapes, random_official_state_dict

TINY = dict(width=8, enc_blocks=[1, 1, 1, 2], middle_blocks=1)


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _numel(shapes: dict) -> int:
    return sum(torch.Size(s).numel() for s in shapes.values())


# -- cardinality ---------------------------------------------------------------------------------

def test_encoder_part_has_62_633_024_parameters() -> None:
    with torch.device("meta"):
        enc = restorekit.create("aibnet.nafnet_encoder")
    assert _count(enc) == 62_633_024


def test_official_layout_counts() -> None:
    shapes = official_nafnet_shapes()
    assert _numel(shapes) == 67_888_835  # the full NAFNet-64 GoPro model
    decoder = {k: s for k, s in shapes.items() if k.startswith(("ups.", "decoders.", "ending."))}
    assert _numel(decoder) == 5_255_811


def test_full_size_official_layout_maps_onto_the_encoder_with_no_missing_key() -> None:
    """The official NAFNet-64 key layout (all 67,888,835 parameters, as shapes) → our encoder's
    state dict: every encoder key is there with its shape, the decoder keys are dropped."""
    shapes = official_nafnet_shapes()
    with torch.device("meta"):
        enc = NAFNetEncoder()
        fake = {k: torch.empty(s) for k, s in shapes.items()}
    kept = nafnet_encoder_state_dict(fake, enc)
    ours = enc.state_dict()
    assert set(kept) == set(ours)
    assert all(tuple(kept[k].shape) == tuple(ours[k].shape) for k in ours)
    assert sum(v.numel() for v in kept.values()) == 62_633_024


def test_tap_shapes_for_a_64x64_input() -> None:
    # full width, one block per stage: the shapes do not depend on the block counts
    enc = NAFNetEncoder(width=64, enc_blocks=[1, 1, 1, 1])
    feats = enc(torch.rand(1, 3, 64, 64))
    assert [tuple(m.shape[1:]) for m in feats.maps] == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8), (1024, 4, 4)]
    assert feats.channels == [64, 128, 256, 512, 1024] and feats.strides == [1, 2, 4, 8, 16]


# -- feature: the official checkpoint and forward -------------------------------------------------

@pytest.fixture(scope="module")
def official_tiny(tmp_path_factory: pytest.TempPathFactory):
    sd = random_official_state_dict(seed=1, width=8, enc=[1, 1, 1, 2], middle=1, dec=[1, 1, 1, 1])
    path = tmp_path_factory.mktemp("nafnet") / "NAFNet-tiny.pth"
    torch.save({"params": sd}, path)
    return path, sd


@pytest.mark.parametrize("size", [(32, 48), (20, 37)])
def test_taps_equal_the_official_forward(official_tiny, size) -> None:
    path, sd = official_tiny
    enc = restorekit.create("aibnet.nafnet_encoder", **TINY, weights=str(path)).double()
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = official_encoder_taps(x, {k: v.double() for k, v in sd.items()}, [1, 1, 1, 2], 1)
    got = enc(x).maps
    assert len(got) == 5
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)
    assert ref[-1].abs().max() > 1e-2  # the comparison is not vacuous


def test_decoder_keys_are_ignored_and_a_plain_state_dict_loads(official_tiny) -> None:
    _, sd = official_tiny
    enc = NAFNetEncoder(**TINY)
    load_nafnet_checkpoint(enc, sd)  # no error although ups/decoders/ending are present
    torch.testing.assert_close(enc.downs[3].conv.weight, sd["downs.3.weight"], rtol=0, atol=0)
    torch.testing.assert_close(enc.middle_blks[0].conv4.bias, sd["middle_blks.0.conv4.bias"], rtol=0, atol=0)


def test_module_prefix_is_stripped(official_tiny, tmp_path) -> None:
    _, sd = official_tiny
    path = tmp_path / "dp.pth"
    torch.save({"params": {f"module.{k}": v for k, v in sd.items()}}, path)
    assert set(read_nafnet_checkpoint(path)) == set(sd)


# -- exceptions --------------------------------------------------------------------------------

def test_missing_file_says_where_the_official_file_comes_from(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.pth' does not exist") as info:
        restorekit.create("aibnet.nafnet_encoder", **TINY, weights=str(tmp_path / "nope.pth"))
    assert "megvii-research/NAFNet" in str(info.value) and "NAFNet-GoPro-width64.pth" in str(info.value)


def test_mismatched_encoder_keys_are_named(official_tiny) -> None:
    _, sd = official_tiny
    enc = NAFNetEncoder(**TINY)
    broken = {k: v for k, v in sd.items() if k != "encoders.3.1.conv2.weight"}
    with pytest.raises(InputError, match=r"missing encoder keys \['encoders.3.1.conv2.weight'\]"):
        load_nafnet_checkpoint(enc, broken)
    extra = {**sd, "encoders.3.2.beta": torch.zeros(1, 64, 1, 1), "foo.weight": torch.zeros(1)}
    with pytest.raises(InputError, match=r"unexpected keys \['encoders.3.2.beta', 'foo.weight'\]"):
        load_nafnet_checkpoint(enc, extra)
    # a checkpoint of another depth: names the keys and the options to change
    with pytest.raises(InputError, match=r"missing encoder keys \['encoders.3.1.*enc_blocks"):
        load_nafnet_checkpoint(enc, random_official_state_dict(width=8, enc=[1, 1, 1, 1]))


def test_wrong_width_names_the_key_and_shapes(official_tiny) -> None:
    _, sd = official_tiny
    enc = NAFNetEncoder(width=16, enc_blocks=[1, 1, 1, 2])
    with pytest.raises(InputError, match=r"'intro.weight' has shape \(8, 3, 3, 3\) but the encoder expects \(16, 3, 3, 3\).*width"):
        load_nafnet_checkpoint(enc, sd)


def test_not_a_checkpoint(tmp_path) -> None:
    path = tmp_path / "x.pth"
    torch.save({"params": [1, 2]}, path)
    with pytest.raises(InputError, match="not an official NAFNet checkpoint"):
        read_nafnet_checkpoint(path)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="could not read"):
        read_nafnet_checkpoint(bad)


@pytest.mark.parametrize(
    "options, match",
    [({"width": 0}, "width"), ({"enc_blocks": []}, "enc_blocks"), ({"middle_blocks": -1}, "middle_blocks"), ({"in_channels": 0}, "in_channels")],
)
def test_bad_options(options, match) -> None:
    with pytest.raises(ConfigError, match=match):
        restorekit.create("aibnet.nafnet_encoder", **{**TINY, **options})


def test_bad_inputs() -> None:
    enc = NAFNetEncoder(**TINY)
    with pytest.raises(InputError, match=r"\(B, C, H, W\)"):
        enc(torch.rand(3, 16, 16))
    with pytest.raises(InputError, match="in_channels"):
        enc(torch.rand(1, 1, 16, 16))
    with pytest.raises(InputError, match="floating point"):
        enc(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


# -- frozen by default -------------------------------------------------------------------------

def test_frozen_by_default_eval_and_no_grad() -> None:
    enc = NAFNetEncoder(**TINY)
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training, "a frozen encoder stays in eval mode"
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    assert all(not m.requires_grad for m in enc(x).maps), "no graph is built through a frozen encoder"


def test_unfrozen_encoder_trains_and_a_stage_can_unfreeze() -> None:
    enc = NAFNetEncoder(**TINY, freeze=False)
    assert all(p.requires_grad for p in enc.parameters())
    enc.train()
    assert enc.training
    frozen = NAFNetEncoder(**TINY)
    frozen.requires_grad_(True)  # what a training stage with `trainable: [encoder]` does
    frozen.train()
    assert frozen.training and frozen(torch.rand(1, 3, 16, 16)).maps[-1].requires_grad


def test_padding_to_16_and_the_contract() -> None:
    enc = NAFNetEncoder(**TINY)
    feats = enc(torch.rand(1, 3, 17, 33))
    assert [tuple(m.shape[-2:]) for m in feats.maps] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    spec = enc.provides_spec()["features"]
    assert spec.representation == "feature_pyramid(channels=[8, 16, 32, 64, 128], strides=[1, 2, 4, 8, 16])"
    assert spec.scales == 5


def test_reflect_padding_option() -> None:
    enc = NAFNetEncoder(**TINY, padding="reflect")
    x = torch.rand(1, 3, 17, 33)
    padded = enc.pad(x)
    assert padded.shape[-2:] == (32, 48)
    torch.testing.assert_close(padded, torch.nn.functional.pad(x, (0, 15, 0, 15), mode="reflect"), rtol=0, atol=0)
    assert enc.pad(torch.rand(1, 3, 5, 5)).shape[-2:] == (16, 16)  # smaller than the pad: replicate
    torch.testing.assert_close(NAFNetEncoder(**TINY).pad(x)[..., 17:, :], torch.zeros(1, 3, 15, 48))  # zeros by default
    with pytest.raises(ConfigError, match="padding"):
        restorekit.create("aibnet.nafnet_encoder", **TINY, padding="circular")


# -- conformance and gradcheck -----------------------------------------------------------------

@pytest.mark.parametrize("freeze", [True, False])
def test_conformance(freeze: bool) -> None:
    check_encoder(NAFNetEncoder(**TINY, freeze=freeze), in_shape=(2, 3, 32, 32))


def test_gradcheck_unfrozen() -> None:
    torch.manual_seed(0)
    enc = NAFNetEncoder(width=4, enc_blocks=[1, 0, 0, 1], middle_blocks=1, freeze=False).double()
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.1 * torch.randn_like(p))  # β, γ ≠ 0 so the blocks are not the identity
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: tuple(enc(t).maps), (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_meta_build_checks_the_checkpoint_without_copying(official_tiny) -> None:
    path, sd = official_tiny
    with torch.device("meta"):
        enc = restorekit.create("aibnet.nafnet_encoder", **TINY, weights=str(path))
    assert all(p.is_meta for p in enc.parameters())
    with torch.device("meta"), pytest.raises(ConfigError, match="missing encoder keys"):
        bad = {k: v for k, v in sd.items() if k != "intro.bias"}
        torch.save({"params": bad}, path.with_name("bad.pth"))
        restorekit.create("aibnet.nafnet_encoder", **TINY, weights=str(path.with_name("bad.pth")))

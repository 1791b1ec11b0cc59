"""aibnet.decoder: exact parameter counts (spec §7), chaining and residual outputs, sizes not
divisible by 16, presets and ablation switches, the feature adapter, errors, conformance,
gradcheck."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import ConfigError, Features, InputError, PipelineError
from restorekit.plugins.aibnet.blocks import HFSBlock, SFDHBlock
from restorekit.plugins.aibnet.decoder import AIBNetDecoder
from restorekit.plugins.aibnet.encoder import NAFNetEncoder
from restorekit.testing import check_decoder

TINY_ENC = dict(width=8, enc_blocks=[1, 1, 1, 1], middle_blocks=1)
TINY_DEC = dict(width=8, num_blocks=1)


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _features(x: torch.Tensor, seed: int = 0, **enc) -> Features:
    torch.manual_seed(seed)
    return NAFNetEncoder(**{**TINY_ENC, **enc})(x)


# -- cardinality ---------------------------------------------------------------------------------

def test_default_subdecoder_has_40_971_642_parameters() -> None:
    with torch.device("meta"):
        dec = restorekit.create("aibnet.decoder")
    assert len(dec.subdecoders) == 1
    sub = dec.subdecoders[0]
    assert _count(sub) == _count(dec) == 40_971_642
    # per level (D4 … D1): up / each SFDH / HFS / level total (spec §7)
    table = [(2_097_152, 3_462_921, 840_348, 30_640_868), (524_288, 879_621, 223_640, 7_784_896),
             (131_072, 226_947, 62_742, 2_009_390), (32_768, 60_354, 19_157, 534_757)]
    for level, (up, sfdh, hfs, total) in zip(sub.levels, table):
        assert _count(level.up) == up and len(level.blocks) == 8
        assert all(_count(b) == sfdh for b in level.blocks) and _count(level.hfs) == hfs
        assert _count(level) == total
    assert _count(sub.head) == 1_731


@pytest.mark.parametrize("variant, n", [("S", 1), ("B", 2), ("L", 4)])
def test_variants(variant: str, n: int) -> None:
    with torch.device("meta"):
        dec = restorekit.create("aibnet.decoder", variant=variant)
    assert len(dec.subdecoders) == n and _count(dec) == n * 40_971_642


def test_alpha_init_follows_the_block_index_in_each_level() -> None:
    with torch.device("meta"):
        dec = AIBNetDecoder()
    for level in dec.subdecoders[0].levels:
        assert [round(b.sfem.alpha_init, 4) for b in level.blocks] == [0.2, 0.3555, 0.4707, 0.5561, 0.6193, 0.6661, 0.7008, 0.7265]


def test_ablation_switches() -> None:
    plain = AIBNetDecoder(**TINY_DEC)
    no_sfem = AIBNetDecoder(**TINY_DEC, sfem=False)
    no_hfs = AIBNetDecoder(**TINY_DEC, hfs=False)
    two_masks = AIBNetDecoder(**TINY_DEC, num_masks=2)
    sfdh = [m for m in plain.modules() if isinstance(m, SFDHBlock)]
    assert all(b.sfem is not None for b in sfdh) and all(b.sfem is None for b in no_sfem.modules() if isinstance(b, SFDHBlock))
    assert not any(isinstance(m, HFSBlock) for m in no_hfs.modules())
    assert all(len(m.sizes) == 2 for m in two_masks.modules() if isinstance(m, HFSBlock))
    assert _count(plain) - _count(two_masks) == 2 * 4  # λ_3, λ_4 in each of the 4 HFSBlocks


# -- feature: chaining, residuals, sizes ----------------------------------------------------------

@pytest.mark.parametrize("size", [(32, 32), (20, 37), (17, 16)])
def test_output_shape_equals_input_shape(size) -> None:
    x = torch.rand(2, 3, *size)
    dec = AIBNetDecoder(**TINY_DEC, num_subdecoders=2).eval()
    out = dec(x, _features(x), None, None)
    assert out.restored.shape == x.shape
    assert [t.shape for t in out.intermediates] == [x.shape, x.shape]
    assert out.restored is out.intermediates[0]


def test_residual_outputs_and_chaining_match_a_manual_evaluation() -> None:
    x = torch.rand(2, 3, 20, 24)
    feats = _features(x)
    dec = AIBNetDecoder(**TINY_DEC, num_subdecoders=3).eval()
    with torch.no_grad():
        out = dec(x, feats, None, None)
        padded = torch.nn.functional.pad(x, (0, 8, 0, 12))  # to 32×32, the features' size
        e5, skips = feats.maps[-1], feats.maps[:-1]
        expected = []
        for sub in dec.subdecoders:
            x_ = e5
            ds = []
            for level, skip in zip(sub.levels, reversed(skips)):
                x_ = level(x_, skip)
                ds.append(x_)
            expected.append((padded + sub.head(x_))[..., :20, :24])  # Î_k = I + head_k(d¹_k)
            skips = ds[::-1]  # f^i = d^i of the previous sub-decoder; e5 unchanged
    for got, want in zip(out.intermediates, expected[::-1]):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_zero_head_init_starts_at_the_input() -> None:
    x = torch.rand(2, 3, 16, 16)
    dec = AIBNetDecoder(**TINY_DEC, num_subdecoders=2, head_init="zero").eval()
    out = dec(x, _features(x), None, None)
    for t in out.intermediates:
        torch.testing.assert_close(t, x, rtol=0, atol=0)


def test_later_subdecoders_do_not_change_earlier_outputs() -> None:
    x = torch.rand(2, 3, 16, 16)
    feats = _features(x)
    torch.manual_seed(1)
    two = AIBNetDecoder(**TINY_DEC, num_subdecoders=2).eval()
    one = AIBNetDecoder(**TINY_DEC, num_subdecoders=1).eval()
    one.subdecoders[0].load_state_dict(two.subdecoders[0].state_dict())
    with torch.no_grad():
        torch.testing.assert_close(two(x, feats, None, None).intermediates[1], one(x, feats, None, None).restored, rtol=0, atol=0)


# -- the feature adapter and the contract ----------------------------------------------------------

def test_contract_accepts_a_matching_encoder_and_rejects_a_mismatch_at_build_time() -> None:
    good = {"encoder": {"type": "aibnet.nafnet_encoder", **TINY_ENC}, "decoder": {"type": "aibnet.decoder", **TINY_DEC}}
    restorekit.load_pipeline({"model": good})
    bad = {"encoder": {"type": "aibnet.nafnet_encoder", **TINY_ENC, "width": 16}, "decoder": {"type": "aibnet.decoder", **TINY_DEC}}
    with pytest.raises(PipelineError, match=r"channels=\[16, 32, 64, 128, 256\].*feature_adapter: conv1x1"):
        restorekit.load_pipeline({"model": bad})


def test_conv1x1_adapter_maps_other_channels() -> None:
    model = {
        "encoder": {"type": "aibnet.nafnet_encoder", **TINY_ENC, "width": 16},
        "decoder": {"type": "aibnet.decoder", **TINY_DEC, "feature_adapter": "conv1x1", "feature_channels": [16, 32, 64, 128, 256]},
    }
    pipe = restorekit.load_pipeline({"model": model})
    adapter = pipe.decoder.adapter
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in adapter] == [
        (16, 8, (1, 1)), (32, 16, (1, 1)), (64, 32, (1, 1)), (128, 64, (1, 1)), (256, 128, (1, 1))]
    x = torch.rand(2, 3, 32, 48)  # the decoder asks for multiples of 16 (restorekit deblur pads any size)
    assert pipe.size_multiple == 16 and pipe.restore(x).shape == x.shape
    wrong = {**model, "decoder": {**model["decoder"], "feature_channels": [16, 32, 64, 128, 512]}}
    with pytest.raises(PipelineError, match="set feature_channels to the encoder's channels"):
        restorekit.load_pipeline({"model": wrong})


def test_runtime_checks_for_undeclared_encoders() -> None:
    """An encoder that declares no contract is caught when the features arrive."""
    dec = AIBNetDecoder(**TINY_DEC).eval()
    x = torch.rand(1, 3, 32, 32)
    feats = _features(x)
    with pytest.raises(InputError, match="needs encoder features"):
        dec(x, None, None, None)
    other = Features(maps=feats.maps, channels=[8, 16, 32, 64, 256], strides=feats.strides)
    with pytest.raises(InputError, match="feature_adapter: conv1x1"):
        dec(x, other, None, None)
    strided = Features(maps=feats.maps, channels=feats.channels, strides=[1, 2, 4, 8, 32])
    with pytest.raises(InputError, match="never resizes"):
        dec(x, strided, None, None)
    with pytest.raises(InputError, match="cover the image"):
        dec(torch.rand(1, 3, 48, 32), feats, None, None)
    with pytest.raises(InputError, match="stride-16 feature map"):
        dec(x, Features(maps=[*feats.maps[:-1], feats.maps[-1][..., :1, :]], channels=feats.channels, strides=feats.strides), None, None)
    with pytest.raises(InputError, match="in_channels|channel"):
        dec(torch.rand(1, 1, 32, 32), feats, None, None)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"variant": "M"}, "variant"),
        ({"variant": "B", "num_subdecoders": 3}, "give only one"),
        ({"num_subdecoders": 0}, "num_subdecoders"),
        ({"width": 0}, "width"),
        ({"num_masks": 0}, "num_masks"),
        ({"mask_ratios": [0.5]}, "one ratio per mask"),
        ({"feature_adapter": "resize"}, "feature_adapter"),
        ({"feature_adapter": "conv1x1"}, "needs feature_channels"),
        ({"feature_channels": [1, 2, 3]}, "5 positive"),
        ({"feature_channels": [16, 32, 64, 128, 256]}, "feature_adapter: conv1x1"),
        ({"width": 12}, "decoupler_groups"),
        ({"head_init": "ones"}, "head_init"),
    ],
)
def test_bad_options(options, match) -> None:
    with pytest.raises(ConfigError, match=match):
        restorekit.create("aibnet.decoder", **{**TINY_DEC, **options})


def test_variant_and_matching_count_is_fine() -> None:
    assert len(AIBNetDecoder(**TINY_DEC, variant="B", num_subdecoders=2).subdecoders) == 2


# -- conformance and gradcheck -----------------------------------------------------------------

def test_conformance() -> None:
    x = torch.rand(2, 3, 16, 16)
    check_decoder(AIBNetDecoder(**TINY_DEC, num_subdecoders=2), x, features=_features(x))


def test_conformance_with_adapter() -> None:
    x = torch.rand(2, 3, 16, 16)
    dec = AIBNetDecoder(**TINY_DEC, feature_adapter="conv1x1", feature_channels=[4, 8, 16, 32, 64])
    check_decoder(dec, x, features=_features(x, width=4))


def test_gradcheck_wrt_image_and_features() -> None:
    torch.manual_seed(0)
    dec = AIBNetDecoder(width=8, num_blocks=1, head_channels=8).double().eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    feats = _features(x.detach().float()).maps
    maps = [m.double().requires_grad_(True) for m in feats]

    def run(img, *ms):
        return dec(img, Features(maps=list(ms), channels=[8, 16, 32, 64, 128], strides=[1, 2, 4, 8, 16]), None, None).restored

    assert torch.autograd.gradcheck(run, (x, *maps), eps=1e-6, atol=1e-5, fast_mode=True)

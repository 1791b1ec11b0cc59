"""dramnet.depth_anything: exact parameter counts, the official checkpoint layout, strict loading,
and the depth output against an independent transcription of the official forward."""

from __future__ import annotations

import time

import pytest
import torch

import restorekit
from restorekit import ConfigError, InputError
from restorekit.plugins.dramnet.depth_anything import (
    DepthAnythingEncoder,
    DepthAnythingV2,
    FeatureAdapter,
    count_parameters,
    load_official_state_dict,
    official_keys,
)
from restorekit.plugins.dramnet.vit import VARIANTS
from restorekit.testing.conformance import check_encoder

from .official_reference import depth_anything_v2_forward, dinov2_taps, official_shapes, random_official_state_dict


def _meta(variant: str) -> DepthAnythingV2:
    with torch.device("meta"):
        return DepthAnythingV2(VARIANTS[variant])


# -- cardinality: exact counts from the spec, without any forward pass -----------------------


@pytest.mark.parametrize(
    "variant, total, backbone, head",
    [
        ("vits", 24_785_089, 22_056_576, 2_728_513),
        ("vitb", 97_470_785, 86_580_480, 10_890_305),
        ("vitl", 335_315_649, 304_368_640, 30_947_009),
    ],
)
def test_parameter_counts_match_the_spec(variant: str, total: int, backbone: int, head: int) -> None:
    model = _meta(variant)
    assert count_parameters(model) == total
    assert count_parameters(model.pretrained) == backbone
    assert count_parameters(model.depth_head) == head


def test_timm_container_and_mask_token() -> None:
    """timm's vit_small_patch14_dinov2 has 22,056,192 params and pos_embed (1, 1370, 384); the
    stripped DA-V2 backbone without mask_token loads into it with no missing/unexpected keys."""
    import timm

    with torch.device("meta"):
        vit = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0)
    assert count_parameters(vit) == 22_056_192
    assert tuple(vit.pos_embed.shape) == (1, 1370, 384)
    stripped = {k[len("pretrained."):]: v for k, v in official_shapes("vits").items() if k.startswith("pretrained.") and k != "pretrained.mask_token"}
    assert set(stripped) == set(vit.state_dict())


def test_official_layout_has_239_keys_and_matches_ours() -> None:
    spec = official_shapes("vits")
    assert len(spec) == 239
    assert official_keys(_meta("vits")) == spec
    for v in ("vitb", "vitl"):
        assert official_keys(_meta(v)) == official_shapes(v)


def test_adapter_has_740992_parameters() -> None:
    assert count_parameters(FeatureAdapter(384, [64, 128, 256, 512, 1024])) == 740_992


# -- strict loading ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def vits_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    state = random_official_state_dict("vits", seed=0)
    path = tmp_path_factory.mktemp("da") / "depth_anything_v2_vits.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def vits_encoder(vits_checkpoint) -> DepthAnythingEncoder:
    path, _ = vits_checkpoint
    return restorekit.create("dramnet.depth_anything", variant="vits", weights=str(path)).eval()


def test_official_checkpoint_loads_strictly(vits_checkpoint, vits_encoder) -> None:
    _, state = vits_checkpoint
    got = vits_encoder.official_state_dict()
    assert set(got) == set(state)
    for k in state:
        assert torch.equal(got[k], state[k]), k


def test_missing_unexpected_and_mismatched_keys_are_named(vits_checkpoint) -> None:
    _, state = vits_checkpoint
    model = DepthAnythingV2(VARIANTS["tiny"])
    with pytest.raises(InputError, match="vits"):  # a vits file into the tiny variant
        load_official_state_dict(model, state, "tiny")
    small = DepthAnythingV2(VARIANTS["tiny"])
    tiny_state = small.state_dict()
    broken = {k: v for k, v in tiny_state.items() if k != "depth_head.scratch.output_conv1.bias"}
    with pytest.raises(InputError, match=r"missing keys \[depth_head.scratch.output_conv1.bias\]"):
        load_official_state_dict(small, broken)
    extra = {**tiny_state, "pretrained.register_tokens": torch.zeros(1, 4, 64)}
    with pytest.raises(InputError, match=r"unexpected keys \[pretrained.register_tokens\]"):
        load_official_state_dict(small, extra)
    wrong = {**tiny_state, "pretrained.norm.bias": torch.zeros(7)}
    with pytest.raises(InputError, match=r"'pretrained.norm.bias' is \(7,\)"):
        load_official_state_dict(small, wrong)


def test_missing_file_says_where_the_official_file_comes_from(tmp_path) -> None:
    with pytest.raises(ConfigError, match="depth-anything/Depth-Anything-V2-Small") as info:
        restorekit.create("dramnet.depth_anything", weights=str(tmp_path / "nope.pth"))
    assert "depth_anything_v2_vits.pth" in str(info.value)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ConfigError, match="not a readable PyTorch state dict"):
        restorekit.create("dramnet.depth_anything", variant="tiny", weights=str(bad))


def test_depth_init_false_ignores_the_weights(vits_checkpoint) -> None:
    path, state = vits_checkpoint
    torch.manual_seed(0)
    enc = restorekit.create("dramnet.depth_anything", variant="vits", weights=str(path), depth_init=False)
    assert not torch.equal(enc.pretrained.pos_embed, state["pretrained.pos_embed"])


# -- feature: the official forward ---------------------------------------------------------


@pytest.mark.parametrize("size", [(224, 308), (518, 518)], ids=["224x308", "518x518"])
def test_depth_equals_independent_official_forward(vits_checkpoint, vits_encoder, size) -> None:
    _, state = vits_checkpoint
    start = time.time()
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = depth_anything_v2_forward(state, image)
        feats = vits_encoder(image)
    got = feats.extras["depth"]
    assert got.shape == (1, 1, *size)
    assert float(expected.std()) > 1e-3  # not the trivial all-zero ReLU output
    torch.testing.assert_close(got[:, 0], expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    assert time.time() - start < 60


def test_taps_use_dinov2_interpolation_not_timms(vits_checkpoint, vits_encoder) -> None:
    """At 224×308 our taps equal the official ones; timm's own resampling (no +0.1 offset) differs."""
    _, state = vits_checkpoint
    x = torch.randn(1, 3, 224, 308, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = vits_encoder.pretrained(x)
        ref = dinov2_taps(state, x)
        pos_ours = vits_encoder.pretrained.interpolate_pos_encoding(16 * 22, 224, 308)
        from timm.layers import resample_abs_pos_embed

        pos_timm = resample_abs_pos_embed(vits_encoder.pretrained.pos_embed, (16, 22), num_prefix_tokens=1)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert (pos_ours - pos_timm).abs().max() > 1e-3


def test_square_native_grid_uses_pos_embed_as_is(vits_encoder) -> None:
    pe = vits_encoder.pretrained.pos_embed
    assert vits_encoder.pretrained.interpolate_pos_encoding(37 * 37, 518, 518) is pe


# -- the component ---------------------------------------------------------------------


def test_encoder_conformance_and_shapes() -> None:
    enc = restorekit.create("dramnet.depth_anything", variant="tiny", channels=[8, 16, 32, 64, 128])
    feats = check_encoder(enc, in_shape=(2, 3, 112, 112))
    assert [tuple(m.shape[1:]) for m in feats.maps] == [(8, 112, 112), (16, 56, 56), (32, 28, 28), (64, 14, 14), (128, 7, 7)]
    assert tuple(feats.extras["depth"].shape) == (2, 1, 112, 112) and float(feats.extras["depth"].detach().min()) >= 0
    assert tuple(feats.extras["tokens"].shape) == (2, 64, 8, 8)


def test_sides_must_be_multiples_of_14() -> None:
    enc = restorekit.create("dramnet.depth_anything", variant="tiny")
    with pytest.raises(InputError, match="divisible by 14"):
        enc(torch.rand(1, 3, 112, 120))
    with pytest.raises(InputError, match="needs RGB images"):
        enc(torch.rand(1, 1, 112, 112))


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="variant"):
        restorekit.create("dramnet.depth_anything", variant="vitg")
    with pytest.raises(ConfigError, match="5 positive widths"):
        restorekit.create("dramnet.depth_anything", variant="tiny", channels=[8, 16])


def test_freeze_options() -> None:
    enc = restorekit.create("dramnet.depth_anything", variant="tiny", freeze_head=True)
    assert not any(p.requires_grad for p in enc.depth_head.parameters())
    assert all(p.requires_grad for p in enc.pretrained.parameters())
    enc = restorekit.create("dramnet.depth_anything", variant="tiny", freeze_backbone=True)
    assert not any(p.requires_grad for p in enc.pretrained.parameters())
    assert all(p.requires_grad for p in enc.adapter.parameters())


def test_depth_false_skips_the_head() -> None:
    enc = restorekit.create("dramnet.depth_anything", variant="tiny", depth=False)
    assert "depth" not in enc.provides
    assert "depth" not in enc(torch.rand(1, 3, 112, 112)).extras


def test_adapter_conv_and_resize_commute() -> None:
    """Resize-then-conv equals conv-then-resize (bilinear weights sum to 1), so the adapter may
    run the conv at the smaller resolution."""
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(6, 4, 1).double()
    t = torch.randn(2, 6, 8, 10, generator=gen, dtype=torch.float64)
    for size in [(16, 20), (4, 5), (7, 9)]:
        a = conv(torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False))
        b = torch.nn.functional.interpolate(conv(t), size=size, mode="bilinear", align_corners=False)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_encoder_gradcheck_tiny() -> None:
    enc = DepthAnythingEncoder("tiny", channels=[2, 2, 2, 2, 2]).double()
    x = torch.rand(1, 3, 28, 28, dtype=torch.float64, requires_grad=True)

    def f(inp: torch.Tensor) -> torch.Tensor:
        out = enc(inp)
        return out.maps[2].sum() + out.extras["depth"].mean() + out.extras["tokens"].sum()

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, fast_mode=True)

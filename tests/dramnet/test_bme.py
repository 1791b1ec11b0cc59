"""dramnet.laplacian_bme: the configurations and their parameter counts (spec §2.2), map shapes
and range, contracts, errors, conformance and gradcheck."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import BlurEstimate, ConfigError, Features, InputError, PipelineError
from restorekit.testing.conformance import check_blur_estimator


def _count(**opts) -> int:
    return sum(p.numel() for p in restorekit.create("dramnet.laplacian_bme", **opts).parameters())


def test_parameter_counts_of_the_spec_configurations(capsys) -> None:
    default = _count()
    assert default == 24_640 + 4 * 74_177 + 3 * 36_928 == 432_132
    assert _count(final_transition=True) == 469_060
    assert _count(input="image") == 372_356
    assert _count(input="image", final_transition=True) == 409_284
    rel = (default - 440_000) / 440_000
    print(f"dramnet.laplacian_bme (tokens 384 → 1×1 → 64, 4 blocks of width 64, 3 stride-2 transitions): "
          f"{default:,} parameters vs the paper's 0.44 M ({100 * rel:+.1f} %)")
    assert abs(rel) < 0.02
    assert "432,132" in capsys.readouterr().out


def _tokens(b: int, h: int, w: int, c: int = 384) -> Features:
    t = torch.randn(b, c, h // 14, w // 14)
    return Features(maps=[], channels=[], strides=[], extras={"tokens": t})


def test_maps_are_16_8_4_2_for_224_and_lie_in_0_1() -> None:
    torch.manual_seed(0)
    image = torch.rand(2, 3, 224, 224)
    for opts, feats in (({}, _tokens(2, 224, 224)), ({"input": "image"}, None)):
        bme = restorekit.create("dramnet.laplacian_bme", **opts)
        with torch.no_grad():
            out = bme(image, feats, BlurEstimate(), {"blurry": image})
        sizes = [tuple(m.shape) for m in out.extras["blur_maps"]]
        assert sizes == [(2, 1, 16, 16), (2, 1, 8, 8), (2, 1, 4, 4), (2, 1, 2, 2)]
        assert out.map is out.extras["blur_maps"][0]
        for m in out.extras["blur_maps"]:
            assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0


def test_conformance_both_readings() -> None:
    image = torch.rand(2, 3, 112, 112)
    check_blur_estimator(restorekit.create("dramnet.laplacian_bme", in_channels=16, width=8), image, features=_tokens(2, 112, 112, 16))
    check_blur_estimator(restorekit.create("dramnet.laplacian_bme", input="image", width=8), image)


def test_size_multiple_and_errors() -> None:
    bme = restorekit.create("dramnet.laplacian_bme", in_channels=16, width=8)
    assert bme.size_multiple == 112
    assert restorekit.create("dramnet.laplacian_bme", input="image", tile=6).size_multiple == 48
    with pytest.raises(InputError, match="divisible by 112"):
        bme(torch.rand(1, 3, 56, 56), _tokens(1, 56, 56, 16), BlurEstimate(), {})
    with pytest.raises(InputError, match="extras\\['tokens'\\]"):
        bme(torch.rand(1, 3, 112, 112), None, BlurEstimate(), {})
    with pytest.raises(InputError, match="in_channels 16"):
        bme(torch.rand(1, 3, 112, 112), _tokens(1, 112, 112, 32), BlurEstimate(), {})
    with pytest.raises(ConfigError, match="not one of"):
        restorekit.create("dramnet.laplacian_bme", input="rgb")
    with pytest.raises(ConfigError, match="input: image"):
        restorekit.create("dramnet.laplacian_bme", tile=7)


def test_token_width_contract_is_checked_when_the_pipeline_is_built() -> None:
    cfg = {
        "model": {
            "encoder": {"type": "dramnet.depth_anything", "variant": "tiny", "channels": [8, 16, 32, 64, 128]},
            "blur_estimator": {"type": "dramnet.laplacian_bme", "width": 8},  # in_channels 384 ≠ tiny's 64
            "decoder": {"type": "dramnet.reversible", "channels": [64, 32, 16, 8], "num_subdecoders": 1},
        }
    }
    with pytest.raises(PipelineError, match="in_channels"):
        restorekit.load_pipeline(cfg)
    cfg["model"]["blur_estimator"]["in_channels"] = 64
    assert restorekit.load_pipeline(cfg).size_multiple == 112


def test_bme_gradcheck_image_reading() -> None:
    bme = restorekit.create("dramnet.laplacian_bme", input="image", width=2, num_blocks=2, tile=2).double().eval()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)

    def f(inp: torch.Tensor) -> torch.Tensor:
        out = bme(inp, None, BlurEstimate(), {})
        return torch.cat([m.flatten() for m in out.extras["blur_maps"]])

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6)

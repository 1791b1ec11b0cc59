"""standard.unet: residual structure, shapes, gradients, option-dependent requires, errors."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import BlurEstimate, ConfigError, Decoder, InputError, PipelineError
from restorekit.testing import check_decoder


def _unet(**opts):
    return restorekit.create("standard.unet", **{"width": 4, **opts})


def test_output_shape_and_intermediates() -> None:
    net = _unet(depth=3, in_channels=1)
    assert isinstance(net, Decoder) and net.size_multiple == 8
    image = torch.rand(2, 1, 16, 24)
    out = net(image, None, BlurEstimate(), None)
    assert out.restored.shape == image.shape
    assert len(out.intermediates) == 1 and out.intermediates[0] is out.restored


def test_zero_init_is_exactly_the_identity() -> None:
    image = torch.rand(2, 3, 8, 8)
    out = _unet()(image, None, BlurEstimate(), None)
    assert torch.equal(out.restored, image)
    assert not torch.equal(_unet(zero_init=False)(image, None, BlurEstimate(), None).restored, image)


def test_output_is_image_plus_residual() -> None:
    # with the tail's weights zero and its bias b, the residual is exactly b per channel
    net = _unet(zero_init=False)
    with torch.no_grad():
        net.tail.weight.zero_()
        net.tail.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    out = net.double()(image, None, BlurEstimate(), None).restored
    bias = torch.tensor([0.1, -0.2, 0.3]).double().view(1, 3, 1, 1)  # the float32 values, widened
    torch.testing.assert_close(out - image, bias.expand_as(image), rtol=0, atol=1e-15)


@pytest.mark.parametrize("opts", [{}, {"use_blur_map": True}, {"use_features": True}, {"use_features": True, "use_blur_map": True}])
def test_gradients_reach_every_parameter(opts: dict) -> None:
    net = _unet(zero_init=False, **opts)
    enc = restorekit.create("standard.simple_encoder", widths=[4, 8, 16])
    image = torch.rand(1, 3, 8, 8)
    est = BlurEstimate(map=torch.rand(1, 1, 4, 4))
    out = net(image, enc(image) if opts.get("use_features") else None, est, None)
    names, params = zip(*net.named_parameters())
    grads = torch.autograd.grad(out.restored.square().mean(), params, allow_unused=True)
    dead = [n for n, g in zip(names, grads) if g is None or not torch.any(g != 0)]
    assert not dead, f"no gradient reaches {dead}"


def test_requires_follow_options() -> None:
    assert _unet().requires == frozenset()
    assert _unet(use_features=True).requires == {"features"}
    assert _unet(use_blur_map=True).requires == {"map"}
    assert _unet(use_features=True, use_blur_map=True).requires == {"features", "map"}
    assert _unet().provides == frozenset()


def test_blur_map_and_features_change_the_output() -> None:
    torch.manual_seed(0)
    image = torch.rand(1, 3, 8, 8)
    net = _unet(zero_init=False, use_blur_map=True)
    a = net(image, None, BlurEstimate(map=torch.zeros(1, 1, 2, 2)), None).restored
    b = net(image, None, BlurEstimate(map=torch.ones(1, 1, 2, 2)), None).restored
    assert not torch.allclose(a, b)
    net = _unet(zero_init=False, use_features=True, feature_channels=[2, 5])
    enc = restorekit.create("standard.simple_encoder", widths=[2, 5])
    f1, f2 = enc(image), enc(torch.rand(1, 3, 8, 8))
    assert not torch.allclose(net(image, f1, BlurEstimate(), None).restored, net(image, f2, BlurEstimate(), None).restored)


@pytest.mark.parametrize("opts", [{}, {"use_blur_map": True}, {"use_features": True, "feature_channels": [3, 6]}])
def test_conformance(opts: dict) -> None:
    enc = restorekit.create("standard.simple_encoder", widths=[3, 6])
    image = torch.rand(2, 3, 8, 8)
    check_decoder(_unet(zero_init=False, **opts), image, features=enc(image))


def test_input_errors() -> None:
    net = _unet(depth=2)
    with pytest.raises(InputError, match="in_channels: 1"):
        net(torch.rand(1, 1, 8, 8), None, BlurEstimate(), None)
    with pytest.raises(InputError, match="divisible by 4"):
        net(torch.rand(1, 3, 8, 6), None, BlurEstimate(), None)
    with pytest.raises(InputError, match="no 'map'"):
        _unet(use_blur_map=True)(torch.rand(1, 3, 8, 8), None, BlurEstimate(), None)
    with pytest.raises(InputError, match="no encoder features"):
        _unet(use_features=True)(torch.rand(1, 3, 8, 8), None, BlurEstimate(), None)
    enc = restorekit.create("standard.simple_encoder", widths=[4, 7, 16])
    with pytest.raises(InputError, match=r"set feature_channels to the encoder's channels \[4, 7, 16\]"):
        _unet(use_features=True)(torch.rand(1, 3, 8, 8), enc(torch.rand(1, 3, 8, 8)), BlurEstimate(), None)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="depth"):
        _unet(depth=0)
    with pytest.raises(ConfigError, match="only used with `use_features: true`"):
        _unet(feature_channels=[4])
    with pytest.raises(ConfigError, match="depth\\+1 = 3"):
        _unet(use_features=True, feature_channels=[4, 8, 16, 32])


def test_pipeline_checks_requirements() -> None:
    with pytest.raises(PipelineError, match="requires 'map'"):
        restorekit.load_pipeline({"model": {"decoder": {"type": "standard.unet", "use_blur_map": True}}})
    with pytest.raises(PipelineError, match="requires 'features'.*standard.simple_encoder"):
        restorekit.load_pipeline({"model": {"decoder": {"type": "standard.unet", "use_features": True}}})


def test_pipeline_with_encoder_unet_and_losses_trains_one_step() -> None:
    pipe = restorekit.load_pipeline(
        {
            "model": {
                "encoder": {"type": "standard.simple_encoder", "widths": [4, 8, 16]},
                "decoder": {"type": "standard.unet", "width": 4, "use_features": True, "zero_init": False},
            },
            "losses": [
                {"type": "standard.charbonnier", "weight": 1.0},
                {"type": "standard.edge", "weight": 0.05},
                {"type": "standard.fft_l1", "weight": 0.1, "transform": "rfft2"},
            ],
        }
    )
    assert pipe.size_multiple == 4
    batch = {"blurry": torch.rand(2, 3, 8, 8), "sharp": torch.rand(2, 3, 8, 8)}
    total, parts = pipe.loss(pipe(batch), batch)
    assert set(parts) == {"standard.charbonnier", "standard.edge", "standard.fft_l1"}
    expected = parts["standard.charbonnier"] + 0.05 * parts["standard.edge"] + 0.1 * parts["standard.fft_l1"]
    torch.testing.assert_close(total.detach(), expected)
    total.backward()
    assert all(p.grad is not None for p in pipe.encoder.parameters())


def test_runs_under_bfloat16_autocast() -> None:
    net = _unet(zero_init=False)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = net(torch.rand(1, 3, 8, 8), None, BlurEstimate(), None)
    assert torch.isfinite(out.restored.float()).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda() -> None:
    net = _unet(zero_init=False, use_blur_map=True).cuda()
    image = torch.rand(1, 3, 8, 8, device="cuda")
    out = net(image, None, BlurEstimate(map=torch.rand(1, 1, 4, 4, device="cuda")), None)
    assert out.restored.device.type == "cuda"
    cpu = net.cpu()(image.cpu(), None, BlurEstimate(map=torch.rand(1, 1, 4, 4)), None)
    assert cpu.restored.shape == out.restored.shape


def test_parameter_count_matches_the_documented_architecture() -> None:
    # width 4, depth 1, RGB, counted by hand from the class docstring:
    # head 3·4·9+4 = 112; enc ResBlock(4) 2·(16·9+4) = 296; down 4·8·9+8 = 296; mid ResBlock(8) 2·(64·9+8) = 1168;
    # up ConvT 8·4·4+4 = 132; fuse 8·4+4 = 36; dec ResBlock(4) 296; tail 4·3·9+3 = 111  → 2447
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(_unet(depth=1)) == 2447
    assert count(_unet(depth=1, use_blur_map=True)) == 2447 + 1 * 4 * 9  # one more head input channel
    assert count(_unet(depth=1, use_features=True)) == 2447 + (4 * 4 + 4) + (8 * 8 + 8)  # two 1×1 projections


def test_chained_unet_applies_subdecoders_in_sequence():
    """x_N = U_N(…U_1(image)); intermediates last first; checked against running the
    sub-decoders by hand, and with the conformance suite."""
    import restorekit
    from restorekit.testing import check_decoder

    torch.manual_seed(0)
    chain = restorekit.create("standard.chained_unet", num_subdecoders=3, width=4, depth=1, zero_init=False)
    assert [n for n, _ in chain.named_children()] == ["subdecoders"] and len(chain.subdecoders) == 3
    x = torch.rand(2, 3, 8, 8)
    out = chain(x, None, None, None)
    by_hand = [x]
    for sub in chain.subdecoders:
        by_hand.append(sub(by_hand[-1], None, None, None).restored)
    assert torch.equal(out.restored, by_hand[3])
    assert [torch.equal(a, b) for a, b in zip(out.intermediates, by_hand[:0:-1])] == [True, True, True]
    check_decoder(chain, torch.rand(2, 3, 8, 8))
    ident = restorekit.create("standard.chained_unet", num_subdecoders=2, width=4, depth=1)
    assert torch.equal(ident(x, None, None, None).restored, x)  # zero_init: identity at start

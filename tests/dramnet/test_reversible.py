"""dramnet.reversible: AdaRevD reference counts (params, MACs), exact inversion, reversible vs
plain path (outputs and gradients), the decoder component (conformance, early exit, exit table,
deep supervision, contracts, errors)."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import BlurEstimate, ConfigError, Features, InputError
from restorekit.plugins.dramnet.counting import count_parameters, subdecoder_macs
from restorekit.plugins.dramnet.reversible import (
    AdaRevDClassifier,
    ReversibleColumns,
    SubDecoder,
    psnr_classes,
    run_plain,
    run_reversible,
)
from restorekit.testing.conformance import check_decoder

CH = [16, 8, 4, 2]


# -- reference numbers (no forward pass at full size) ----------------------------------------


def test_adarevd_subdecoder_and_per_level_counts() -> None:
    with torch.device("meta"):
        sub = SubDecoder([512, 256, 128, 64], [8, 4, 2, 1], blur_guided=False)
        cls = AdaRevDClassifier(512)
    assert count_parameters(sub) == 17_098_496
    table = [(2_097_152, 525_824, 10_246_656), (524_288, 131_840, 2_567_424), (131_072, 33_152, 644_736), (32_768, 0, 162_624)]
    for level, (up, down, block) in zip(sub.levels, table):
        assert count_parameters(level.up) == up
        assert (count_parameters(level.down) if level.down is not None else 0) == down
        assert count_parameters(level.block) == block
    assert count_parameters(cls) == 10_001_932


def test_subdecoder_macs_at_256_are_28_gmacs() -> None:
    macs = subdecoder_macs([512, 256, 128, 64], size=256)
    assert abs(macs / 28.0e9 - 1) < 0.01, macs


def test_dramnet_decoder_parameter_count_formula() -> None:
    with torch.device("meta"):
        dec = restorekit.create("dramnet.reversible")
    c = [512, 256, 128, 64]
    extra = sum(16 * x * x + 4 * x + 66 + 2 * x * x + 5 * x + x // 64 for x in c)
    heads = 4 * (64 * 3 * 9 + 3)
    assert count_parameters(dec) == 4 * (17_098_496 + extra) + heads


# -- the reversible recurrence -------------------------------------------------------------


def _subs(n: int = 2, dtype=torch.float64, guided: bool = True, seed: int = 0, scale: float = 0.2):
    torch.manual_seed(seed)
    subs = torch.nn.ModuleList([SubDecoder(CH, [1, 1, 1, 1], guided) for _ in range(n)]).to(dtype)
    heads = torch.nn.ModuleList([torch.nn.Conv2d(CH[3], 3, 3, padding=1) for _ in range(n)]).to(dtype)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in subs.named_parameters():  # non-trivial β, γ, mixer, attention … (α keeps its 0.5)
            if ".alphas." not in f".{name}":
                p.add_(scale * torch.randn(p.shape, generator=gen, dtype=dtype))
    return subs, heads


def _states(b: int = 2, size: int = 16, dtype=torch.float64, seed: int = 3):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(2 * CH[0], size // 16), (CH[0], size // 8), (CH[1], size // 4), (CH[2], size // 2), (CH[3], size)]
    states = [torch.randn(b, c, s, s, generator=gen, dtype=dtype) for c, s in shapes]
    blur = torch.rand(b, 1, 2, 2, generator=gen, dtype=dtype)
    return states, blur


@pytest.mark.parametrize("dtype, tol, scale", [(torch.float64, 1e-10, 0.2), (torch.float32, 1e-5, 0.1)])
def test_inverse_recovers_the_inputs(dtype, tol, scale) -> None:
    """(c_new − o)/α recovers c_old; in float32 the error grows with |o| / |α c| (cancellation):
    ≈ 4e-6 here (|c_new| ≈ 2·|c_old|), ≈ 2e-5 with twice as large random weights."""
    subs, _ = _subs(1, dtype, scale=scale)
    states, blur = _states(dtype=dtype)
    assert all(bool((a == 0.5).all()) for a in subs[0].alphas)
    sub = subs[0]
    with torch.no_grad():
        out = sub(states, blur)
        back = sub.inverse(out, blur)
    for a, b in zip(states, back):
        err = float((a - b).abs().max() / a.abs().max())
        assert err < tol, err
    assert float((out[4] - states[4]).abs().max()) > 1e-2  # the sub-decoder did change c3


def test_reversible_and_plain_paths_agree_float64() -> None:
    subs, heads = _subs(2)
    results = []
    for run in (run_plain, run_reversible):
        states, blur = _states()
        states = [s.requires_grad_(True) for s in states]
        blur.requires_grad_(True)
        for p in [*subs.parameters(), *heads.parameters()]:
            p.grad = None
        final, outs = run(subs, heads, [0, 1], states, blur, None)
        loss = sum((o.sin() * o).sum() for o in outs) + final[2].square().sum()
        loss.backward()
        grads = [s.grad for s in states] + [blur.grad] + [p.grad for p in [*subs.parameters(), *heads.parameters()]]
        results.append((outs, final, grads))
    (o1, f1, g1), (o2, f2, g2) = results
    for a, b in zip(o1 + f1, o2 + f2):
        assert float((a - b).detach().abs().max()) < 1e-12
    flat1 = torch.cat([g.flatten() for g in g1])
    flat2 = torch.cat([g.flatten() for g in g2])
    total = float(flat1.norm())
    assert float((flat1 - flat2).norm()) / total < 1e-8
    for a, b in zip(g1, g2):  # and every gradient tensor on its own (those that are not ≈ 0 in both paths)
        if float(a.norm()) > 1e-6 * total:
            assert float((a - b).norm() / a.norm()) < 1e-8
        else:
            assert float((a - b).norm()) < 1e-12 * total


def test_reversible_function_gradcheck() -> None:
    subs, heads = _subs(1)
    states, blur = _states(b=1)
    inputs = [s.requires_grad_(True) for s in states] + [blur.requires_grad_(True)]

    def f(*args):
        final, outs = run_reversible(subs, heads, [0], list(args[:5]), args[5], None)
        return outs[0], final[1]

    assert torch.autograd.gradcheck(f, tuple(inputs), eps=1e-6, atol=1e-6, fast_mode=True)


def test_reversible_path_stores_no_activations() -> None:
    """Saved tensors during the forward: the reversible node keeps its 5 outputs + the map."""
    subs, heads = _subs(2, torch.float32)
    counts = {}
    for name, run in (("plain", run_plain), ("reversible", run_reversible)):
        states, blur = _states(dtype=torch.float32)
        states = [s.requires_grad_(True) for s in states]
        saved: list[torch.Tensor] = []

        def pack(t):
            saved.append(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            run(subs, heads, [1], states, blur, None)
        counts[name] = sum(t.numel() for t in {id(t): t for t in saved}.values())
    assert counts["reversible"] < 0.2 * counts["plain"], counts


def test_alpha_clamp_keeps_sign() -> None:
    sub = SubDecoder(CH, [1, 1, 1, 1], False)
    with torch.no_grad():
        sub.alphas[0].fill_(-1e-5)
        sub.alphas[1].fill_(0.0)
        sub.alphas[2].fill_(0.7)
    sub.clamp_alphas_()
    assert torch.all(sub.alphas[0] == -1e-3) and torch.all(sub.alphas[1] == 1e-3) and torch.all(sub.alphas[2] == 0.7)


# -- the component ----------------------------------------------------------------------------


def _features(b: int = 2, size: int = 32, ch=CH, seed: int = 0) -> Features:
    gen = torch.Generator().manual_seed(seed)
    pyramid = [ch[3], ch[2], ch[1], ch[0], 2 * ch[0]]
    maps = [torch.randn(b, c, size // 2**k, size // 2**k, generator=gen) for k, c in enumerate(pyramid)]
    return Features(maps=maps, channels=pyramid, strides=[1, 2, 4, 8, 16])


def test_decoder_conformance() -> None:
    image = torch.rand(2, 3, 32, 32)
    for opts in ({}, {"use_blur_map": False}, {"save_memory": False}, {"deep_supervision": True}):
        dec = restorekit.create("dramnet.reversible", channels=CH, num_subdecoders=2, **opts)
        check_decoder(dec, image, features=_features())


def test_decoder_train_mode_reversible_equals_plain() -> None:
    image = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    feats = _features()
    feats.maps = [m.double() for m in feats.maps]
    est = BlurEstimate(map=torch.rand(2, 1, 2, 2, dtype=torch.float64))
    torch.manual_seed(0)
    dec = restorekit.create("dramnet.reversible", channels=CH, num_subdecoders=3).double().train()
    outs = []
    for save in (True, False):
        dec.save_memory = save
        out = dec(image, feats, est, None)
        g = torch.autograd.grad(out.restored.square().sum(), list(dec.parameters()), allow_unused=True)
        outs.append((out.restored, g))
    assert float((outs[0][0] - outs[1][0]).detach().abs().max()) < 1e-12
    total = float(torch.cat([g.flatten() for g in outs[1][1] if g is not None]).norm())
    for a, b in zip(outs[0][1], outs[1][1]):
        if a is None or b is None:
            assert a is None and b is None
        elif float(b.norm()) > 1e-6 * total:
            assert float((a - b).norm() / b.norm()) < 1e-8
        else:
            assert float((a - b).norm()) < 1e-12 * total


def test_early_exit_only_in_eval_and_per_sample() -> None:
    image = torch.rand(2, 3, 32, 32)
    feats = _features()
    blur = torch.stack([torch.full((1, 2, 2), 0.001), torch.full((1, 2, 2), 0.5)])
    dec = restorekit.create("dramnet.reversible", channels=CH, num_subdecoders=2).eval()
    with torch.no_grad():
        out = dec(image, feats, BlurEstimate(map=blur), None)
        assert out.extras["exit_mask"].tolist() == [True, False]
        plain = restorekit.create("dramnet.reversible", channels=CH, num_subdecoders=2, use_blur_map=False).eval()
        plain.load_state_dict({k: v for k, v in dec.state_dict().items() if k in plain.state_dict()})
        ref = plain(image, feats, BlurEstimate(), None)
    assert torch.equal(out.restored[0], ref.restored[0])  # the exited sample ran the AdaRevD blocks exactly
    dec.train()
    assert "exit_mask" not in dec(image, feats, BlurEstimate(map=blur), None).extras


def test_exit_table_classifier_and_deep_supervision() -> None:
    image = torch.rand(2, 3, 32, 32)
    feats = _features()
    est = BlurEstimate(map=torch.rand(2, 1, 2, 2))
    dec = restorekit.create("dramnet.reversible", channels=CH, num_subdecoders=3, classifier=True, exit_table=[3, 3, 2, 2, 1, 1])
    assert "exit_logits" in dec.provides
    dec.eval()
    with torch.no_grad():
        out = dec(image, feats, est, None)
        used = out.extras["subdecoders_used"]
        cls = out.extras["exit_logits"].argmax(dim=1)
        assert used.tolist() == [[3, 3, 2, 2, 1, 1][int(c)] for c in cls]
        dec.exit_table = None
        dec.deep_supervision = True
        full = dec(image, feats, est, None)
    assert len(full.intermediates) == 3  # last first
    for b in range(2):
        assert torch.equal(out.restored[b], full.intermediates[3 - int(used[b])][b])
    with pytest.raises(ConfigError, match="classifier: true"):
        restorekit.create("dramnet.reversible", exit_table=[4, 4, 3, 3, 2, 1])


def test_psnr_classes() -> None:
    sharp = torch.zeros(6, 1, 4, 4)
    psnrs = torch.tensor([15.0, 22.0, 27.0, 33.0, 38.0, 45.0])
    blurry = sharp + (10 ** (-psnrs / 20)).view(-1, 1, 1, 1)  # constant offset: MSE = offset²
    assert psnr_classes(blurry, sharp).tolist() == [0, 1, 2, 3, 4, 5]


def test_decoder_errors_and_contract() -> None:
    dec = restorekit.create("dramnet.reversible", channels=CH, num_subdecoders=1)
    image = torch.rand(1, 3, 32, 32)
    with pytest.raises(InputError, match="divisible by 16"):
        dec(torch.rand(1, 3, 24, 24), _features(1, 24), BlurEstimate(map=torch.rand(1, 1, 2, 2)), None)
    with pytest.raises(InputError, match="blur map"):
        dec(image, _features(1), BlurEstimate(), None)
    with pytest.raises(InputError, match="e0 has shape"):
        dec(image, _features(1, ch=[32, 16, 8, 4]), BlurEstimate(map=torch.rand(1, 1, 2, 2)), None)
    with pytest.raises(ConfigError, match="twice the channels"):
        restorekit.create("dramnet.reversible", channels=[64, 64, 32, 16])
    cfg = {
        "model": {
            "encoder": {"type": "dramnet.depth_anything", "variant": "tiny", "channels": [8, 16, 32, 64, 128]},
            "blur_estimator": {"type": "dramnet.laplacian_bme", "in_channels": 64, "width": 8},
            "decoder": {"type": "dramnet.reversible", "channels": CH, "num_subdecoders": 1},
        }
    }
    with pytest.raises(restorekit.PipelineError, match=r"set the encoder's channels to \[2, 4, 8, 16, 32\]"):
        restorekit.load_pipeline(cfg)


def test_amp_bf16_reversible_runs_and_keeps_float32_stream() -> None:
    image = torch.rand(1, 3, 32, 32)
    feats = _features(1)
    dec = restorekit.create("dramnet.reversible", channels=CH, num_subdecoders=2).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = dec(image, feats, BlurEstimate(map=torch.rand(1, 1, 2, 2)), None)
    assert out.restored.dtype == torch.float32
    out.restored.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in dec.subdecoders[0].levels[0].parameters() if p.requires_grad)


def test_function_is_the_reversible_node() -> None:
    subs, heads = _subs(1)
    states, blur = _states(b=1)
    states[0].requires_grad_(True)
    _, outs = run_reversible(subs, heads, [0], states, blur, None)
    assert type(outs[0].grad_fn).__name__ == "ReversibleColumnsBackward"
    assert issubclass(ReversibleColumns, torch.autograd.Function)

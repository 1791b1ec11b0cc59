"""dramnet.silog, dramnet.depth_ssim, dramnet.blur_map, dramnet.exit_classes and the frozen
teacher: closed forms, hand-computed examples, conformance, errors."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import BlurEstimate, ConfigError, DecoderOutput, Features, InputError, PipelineOutput
from restorekit.data import laplacian_blur_map
from restorekit.plugins.dramnet.losses import minmax, silog
from restorekit.plugins.dramnet.teacher import FrozenTeacher
from restorekit.testing.conformance import check_loss


def _out(restored: torch.Tensor, depth: torch.Tensor | None = None, maps: list[torch.Tensor] | None = None, logits=None) -> PipelineOutput:
    feats = Features(maps=[], channels=[], strides=[], extras={"depth": depth} if depth is not None else {})
    est = BlurEstimate(map=maps[0] if maps else None, extras={"blur_maps": maps} if maps else {})
    dec = DecoderOutput(restored=restored, extras={"exit_logits": logits} if logits is not None else {})
    return PipelineOutput(restored=restored, decoder=dec, estimate=est, features=feats)


# -- SI-log (eq. 3) -------------------------------------------------------------------------------


def test_silog_closed_form_and_scale_invariance() -> None:
    gen = torch.Generator().manual_seed(0)
    target = 0.1 + torch.rand(2, 1, 5, 6, generator=gen, dtype=torch.float64)
    pred = 0.1 + torch.rand(2, 1, 5, 6, generator=gen, dtype=torch.float64)
    d = (pred.log() - target.log()).flatten(1)
    expect = ((d**2).mean(1) - 0.85 * d.mean(1) ** 2).mean()
    torch.testing.assert_close(silog(pred, target), expect, rtol=1e-12, atol=0)
    # a global scale c only leaves (1 − λ)(log c)²: the loss is scale invariant up to that term
    c = 3.0
    torch.testing.assert_close(silog(c * target, target), torch.tensor((1 - 0.85) * torch.log(torch.tensor(c)).item() ** 2, dtype=torch.float64))
    # and invariant to depth ↔ 1/depth (d flips sign)
    torch.testing.assert_close(silog(1 / pred, 1 / target), silog(pred, target), rtol=1e-12, atol=1e-15)
    # invalid target pixels (≤ 1e-6) are ignored
    t2 = target.clone()
    t2[0, 0, 0, 0] = 0.0
    p2 = pred.clone()
    p2[0, 0, 0, 0] = 123.0
    d0 = (p2.log() - t2.clamp_min(1e-6).log())[0].flatten()[1:]
    first = (d0**2).mean() - 0.85 * d0.mean() ** 2
    torch.testing.assert_close(silog(p2, t2), (first + ((d[1] ** 2).mean() - 0.85 * d[1].mean() ** 2)) / 2)


def _teacher_output(teacher: FrozenTeacher):
    """D_pred = the teacher itself on the restored image (with gradients), so the loss is 0 at r = sharp."""
    from restorekit.plugins.dramnet.depth_anything import normalise

    def make(r: torch.Tensor) -> PipelineOutput:
        return _out(r, depth=teacher.model(r.device, r.dtype)(normalise(r)))

    return make


def test_depth_losses_conformance_with_a_tiny_teacher() -> None:
    teacher = FrozenTeacher("tiny", None, seed=0)
    for name in ("dramnet.silog", "dramnet.depth_ssim"):
        loss = restorekit.create(name, teacher_variant="tiny", teacher_seed=0)
        assert loss.teacher.key == teacher.key  # the same shared frozen teacher
        check_loss(loss, make_output=_teacher_output(teacher), shape=(2, 3, 28, 28))


def test_teacher_is_frozen_hidden_and_shared() -> None:
    loss = restorekit.create("dramnet.silog", teacher_variant="tiny", teacher_seed=5)
    other = restorekit.create("dramnet.depth_ssim", teacher_variant="tiny", teacher_seed=5)
    assert list(loss.state_dict()) == [] and list(loss.parameters()) == []
    m = loss.teacher.model(torch.device("cpu"), torch.float32)
    assert m is other.teacher.model(torch.device("cpu"), torch.float32)
    assert not any(p.requires_grad for p in m.parameters()) and not m.training
    state = torch.get_rng_state()
    FrozenTeacher("tiny", None, seed=6).model(torch.device("cpu"), torch.float32)  # building it never touches the global RNG
    assert torch.equal(state, torch.get_rng_state())
    import copy

    assert copy.deepcopy(loss).teacher is loss.teacher


def test_teacher_with_official_weights(tmp_path) -> None:
    from restorekit.plugins.dramnet.depth_anything import DepthAnythingV2
    from restorekit.plugins.dramnet.vit import VARIANTS

    model = DepthAnythingV2(VARIANTS["tiny"])
    path = tmp_path / "tiny_official.pth"
    torch.save(model.state_dict(), path)
    teacher = FrozenTeacher("tiny", str(path))
    x = torch.rand(1, 3, 28, 28)
    from restorekit.plugins.dramnet.depth_anything import normalise

    with torch.no_grad():
        torch.testing.assert_close(teacher(x), model.eval()(normalise(x)))
    with pytest.raises(ConfigError, match="does not exist"):
        restorekit.create("dramnet.silog", teacher_variant="tiny", teacher_weights=str(tmp_path / "missing.pth"))


def test_pseudo_depth_from_the_batch() -> None:
    loss = restorekit.create("dramnet.silog", pseudo_depth="batch")
    assert loss.batch_requires == {"pseudo_depth"}
    pred = 0.5 + torch.rand(2, 1, 4, 4)
    target = 0.5 + torch.rand(2, 4, 4)  # (B, H, W) as DA-V2 returns it
    torch.testing.assert_close(loss(_out(torch.rand(2, 3, 4, 4), depth=pred), {"pseudo_depth": target}), silog(pred, target[:, None]))
    with pytest.raises(KeyError, match="pseudo_depth"):
        loss(_out(torch.rand(2, 3, 4, 4), depth=pred), {"sharp": torch.rand(2, 3, 4, 4)})
    with pytest.raises(InputError, match="extras\\['depth'\\]"):
        loss(_out(torch.rand(2, 3, 4, 4)), {"pseudo_depth": target})
    with pytest.raises(ConfigError, match="lam"):
        restorekit.create("dramnet.silog", lam=1.5)


# -- depth SSIM (eq. 6) -------------------------------------------------------------------------


def test_depth_ssim_is_zero_for_affinely_related_depths_and_uses_minmax() -> None:
    loss = restorekit.create("dramnet.depth_ssim", pseudo_depth="batch")
    target = torch.rand(2, 1, 16, 16) + 0.1
    out = _out(torch.rand(2, 3, 16, 16), depth=3.0 * target + 2.0)  # min–max makes them equal
    assert float(loss(out, {"pseudo_depth": target})) < 1e-6
    import kornia

    pred = torch.rand(2, 1, 16, 16)
    expect = 1 - kornia.metrics.ssim(minmax(pred), minmax(target), 11, max_val=1.0, padding="same").mean()
    torch.testing.assert_close(loss(_out(pred, depth=pred), {"pseudo_depth": target}), expect)
    assert float(loss(_out(pred, depth=pred), {"pseudo_depth": target})) > 0.05


# -- blur map (eq. 8) --------------------------------------------------------------------------


def test_blur_map_loss_equals_hand_computation() -> None:
    gen = torch.Generator().manual_seed(0)
    sharp = 0.1 * torch.rand(2, 3, 56, 56, generator=gen, dtype=torch.float64)  # tile means < 1: no clipping
    blurry = 0.1 * torch.rand(2, 3, 56, 56, generator=gen, dtype=torch.float64)
    maps = [torch.rand(2, 1, 4 // 2**b, 4 // 2**b, generator=gen, dtype=torch.float64) for b in range(3)]
    loss = restorekit.create("dramnet.blur_map")
    target = laplacian_blur_map(sharp, blurry, 14)
    expect = sum((m - torch.nn.functional.avg_pool2d(target, 2**b)).abs().mean() for b, m in enumerate(maps)) / 3
    got = loss(_out(sharp, maps=maps), {"sharp": sharp, "blurry": blurry})
    torch.testing.assert_close(got, expect, rtol=1e-12, atol=0)
    # the multi-scale targets equal eq. (1) on (14·2^b)² tiles
    assert float(target.max()) < 1
    torch.testing.assert_close(torch.nn.functional.avg_pool2d(target, 2), laplacian_blur_map(sharp, blurry, 28), rtol=1e-12, atol=1e-15)
    # a batch blur_map is used as it is
    given = torch.rand(2, 1, 4, 4, generator=gen, dtype=torch.float64)
    exp2 = sum((m - torch.nn.functional.avg_pool2d(given, 2**b)).abs().mean() for b, m in enumerate(maps)) / 3
    torch.testing.assert_close(loss(_out(sharp, maps=maps), {"blur_map": given}), exp2, rtol=1e-12, atol=0)
    # scales: 1 uses map 0 only
    one = restorekit.create("dramnet.blur_map", scales=1)
    torch.testing.assert_close(one(_out(sharp, maps=maps), {"blur_map": given}), (maps[0] - given).abs().mean())


def test_blur_map_loss_tile_follows_the_map_resolution() -> None:
    sharp, blurry = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    m = torch.rand(1, 1, 8, 8)
    loss = restorekit.create("dramnet.blur_map")
    torch.testing.assert_close(loss(_out(sharp, maps=[m]), {"sharp": sharp, "blurry": blurry}), (m - laplacian_blur_map(sharp, blurry, 6)).abs().mean())


def test_blur_map_conformance_and_errors() -> None:
    def make(r: torch.Tensor) -> PipelineOutput:  # a "BME" whose map is eq. (1) of the output: 0 at the target
        blurry = torch.full_like(r, 0.5)
        m0 = laplacian_blur_map(r, blurry, 14)
        return _out(r, maps=[m0, torch.nn.functional.avg_pool2d(m0, 2)])

    loss = restorekit.create("dramnet.blur_map")

    class Wrapped(type(loss)):
        """The conformance batch's blurry image is random; pin it to the one ``make`` uses."""

        def forward(self, output, batch):
            return super().forward(output, {**batch, "blurry": torch.full_like(batch["sharp"], 0.5)})

    check_loss(Wrapped(), make_output=make, shape=(2, 3, 28, 28))
    with pytest.raises(KeyError, match="blur_map"):
        loss(make(torch.rand(1, 3, 28, 28)), {"sharp": torch.rand(1, 3, 28, 28)})
    with pytest.raises(InputError, match="needs a blur map"):
        loss(_out(torch.rand(1, 3, 28, 28)), {"blur_map": torch.rand(1, 1, 2, 2)})
    with pytest.raises(InputError, match="target is"):
        loss(_out(torch.rand(1, 3, 28, 28), maps=[torch.rand(1, 1, 2, 2)]), {"blur_map": torch.rand(1, 1, 3, 3)})


# -- exit classifier ---------------------------------------------------------------------------


def test_exit_class_loss() -> None:
    loss = restorekit.create("dramnet.exit_classes")
    sharp = torch.zeros(2, 3, 8, 8)
    blurry = sharp + torch.tensor([0.5, 0.001]).view(2, 1, 1, 1)  # 6 dB → class 0, 60 dB → class 5
    logits = torch.randn(2, 6)
    expect = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 5]))
    torch.testing.assert_close(loss(_out(sharp, logits=logits), {"sharp": sharp, "blurry": blurry}), expect)
    with pytest.raises(InputError, match="classifier: true"):
        loss(_out(sharp), {"sharp": sharp, "blurry": blurry})


def test_exit_class_loss_conformance() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 6, generator=gen)

    def make(r: torch.Tensor) -> PipelineOutput:
        return _out(r, logits=r.mean(dim=(2, 3)) @ w.to(r.dtype))

    check_loss(restorekit.create("dramnet.exit_classes"), make_output=make, zero_at_target=False)

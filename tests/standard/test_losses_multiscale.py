"""The shared ``target`` / ``scale_weights`` options: the weighted multi-scale loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import restorekit
from restorekit import ConfigError, PipelineError

from ._helpers import output_of, pair


def _half(x: np.ndarray) -> np.ndarray:
    """Bilinear ×1/2 (align_corners=False, no antialias) in closed form: sample i sits at
    source 2i + 0.5, i.e. the mean of each 2×2 block."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _quarter(x: np.ndarray) -> np.ndarray:
    """Bilinear ×1/4: sample i sits at source 4i + 1.5, the mean of pixels 4i+1 and 4i+2."""
    rows = 0.5 * (x[..., 1::4, :] + x[..., 2::4, :])
    return 0.5 * (rows[..., 1::4] + rows[..., 2::4])


def test_nrknet_style_weighted_multiscale_mse() -> None:
    # NRKNet: predictions [Z (H), d1 (H), d2 (H/2), d3 (H/4)] with λ = [1, 0.75, 0.5, 0.25]
    gen = torch.Generator().manual_seed(0)
    sharp = torch.rand(2, 3, 16, 16, generator=gen, dtype=torch.float64)
    preds = [torch.rand(2, 3, s, s, generator=gen, dtype=torch.float64) for s in (16, 16, 8, 4)]
    weights = [1.0, 0.75, 0.5, 0.25]
    loss = restorekit.create("standard.mse", target="intermediates", scale_weights=weights)
    value = loss(output_of(preds[0], preds), {"sharp": sharp})
    x = sharp.numpy()
    targets = [x, x, _half(x), _quarter(x)]
    expected = sum(w * np.mean((p.numpy() - t) ** 2) for w, p, t in zip(weights, preds, targets))
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_unweighted_intermediates_sum_and_all_target() -> None:
    gen = torch.Generator().manual_seed(1)
    sharp = torch.rand(1, 3, 8, 8, generator=gen, dtype=torch.float64)
    restored = torch.rand(1, 3, 8, 8, generator=gen, dtype=torch.float64)
    inter = [torch.rand(1, 3, 4, 4, generator=gen, dtype=torch.float64)]
    x = sharp.numpy()
    l1_full = np.mean(np.abs(restored.numpy() - x))
    l1_half = np.mean(np.abs(inter[0].numpy() - _half(x)))
    out = output_of(restored, inter)
    got = restorekit.create("standard.l1", target="intermediates")(out, {"sharp": sharp})
    assert float(got) == pytest.approx(l1_half, rel=1e-12)
    got_all = restorekit.create("standard.l1", target="all", scale_weights=[2.0, 0.5])(out, {"sharp": sharp})
    assert float(got_all) == pytest.approx(2.0 * l1_full + 0.5 * l1_half, rel=1e-12)


@pytest.mark.parametrize("name", ["l1", "mse", "charbonnier", "fft_l1", "edge", "gradient_l1", "ssim"])
def test_every_loss_supports_multiscale_targets(name: str) -> None:
    gen = torch.Generator().manual_seed(2)
    sharp = torch.rand(1, 3, 32, 32, generator=gen, dtype=torch.float64)
    preds = [torch.rand(1, 3, s, s, generator=gen, dtype=torch.float64, requires_grad=True) for s in (32, 16)]
    multi = restorekit.create(f"standard.{name}", target="intermediates", scale_weights=[1.0, 0.5])
    single = restorekit.create(f"standard.{name}")
    value = multi(output_of(preds[0], preds), {"sharp": sharp})
    # the half-scale term equals the plain loss against the closed-form ×1/2 target
    half_target = torch.from_numpy(_half(sharp.numpy()))
    expected = single(output_of(preds[0]), {"sharp": sharp}) + 0.5 * single(output_of(preds[1]), {"sharp": half_target})
    assert float(value.detach()) == pytest.approx(float(expected.detach()), rel=1e-10)
    grads = torch.autograd.grad(value, preds)
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_requires_follow_target() -> None:
    assert restorekit.create("standard.ssim").requires == frozenset()
    assert restorekit.create("standard.ssim", target="all").requires == {"intermediates"}
    assert restorekit.create("standard.fft_l1", target="intermediates").requires == {"intermediates"}


def test_multiscale_errors() -> None:
    pred, sharp = pair((1, 3, 8, 8))
    with pytest.raises(PipelineError, match="returned no intermediates"):
        restorekit.create("standard.l1", target="intermediates")(output_of(pred, []), {"sharp": sharp})
    with pytest.raises(PipelineError, match="give exactly 2 weights"):
        restorekit.create("standard.l1", target="all", scale_weights=[1.0])(output_of(pred, [pred]), {"sharp": sharp})
    with pytest.raises(ConfigError, match="non-negative"):
        restorekit.create("standard.l1", target="all", scale_weights=[1.0, -1.0])
    with pytest.raises(ConfigError, match="set target: intermediates"):
        restorekit.create("standard.mse", scale_weights=[1.0])

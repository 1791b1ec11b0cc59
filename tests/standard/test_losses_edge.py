"""standard.edge (Laplacian domain) and standard.gradient_l1 against hand-written stencils
and scipy.ndimage filters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

import restorekit
from restorekit import ConfigError
from restorekit.testing import check_loss

from ._helpers import output_of, pair


def _laplacian4_by_hand(x: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian with replicate (edge) padding, written out per pixel."""
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            out[..., i, j] = (
                p[..., i, j + 1] + p[..., i + 2, j + 1] + p[..., i + 1, j] + p[..., i + 1, j + 2] - 4 * p[..., i + 1, j + 1]
            )
    return out


def test_edge_charbonnier_matches_hand_written_laplacian() -> None:
    pred, sharp = pair((2, 3, 7, 9))
    value = restorekit.create("standard.edge")(output_of(pred), {"sharp": sharp})
    d = _laplacian4_by_hand(pred.numpy()) - _laplacian4_by_hand(sharp.numpy())
    assert float(value) == pytest.approx(np.mean(np.sqrt(d**2 + 1e-6)), rel=1e-12)


def test_edge_l1_8_neighbour_matches_scipy() -> None:
    pred, sharp = pair((1, 2, 6, 5))
    stencil = np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], dtype=np.float64)[None, None]
    lap = lambda x: ndimage.convolve(x, stencil, mode="nearest")  # noqa: E731 - nearest = replicate
    value = restorekit.create("standard.edge", penalty="l1", stencil="8-neighbour")(output_of(pred), {"sharp": sharp})
    assert float(value) == pytest.approx(np.mean(np.abs(lap(pred.numpy()) - lap(sharp.numpy()))), rel=1e-12)


def test_edge_ignores_a_constant_offset() -> None:
    # the Laplacian of a constant is 0 (also at replicated borders), so the L1 edge loss is 0
    _, sharp = pair()
    value = restorekit.create("standard.edge", penalty="l1")(output_of(sharp + 0.3), {"sharp": sharp})
    assert float(value) == pytest.approx(0.0, abs=1e-14)


def test_gradient_forward_matches_numpy_diff() -> None:
    pred, sharp = pair((2, 3, 5, 7))
    a, b = pred.numpy(), sharp.numpy()
    expected = np.mean(np.abs(np.diff(a, axis=-1) - np.diff(b, axis=-1))) + np.mean(
        np.abs(np.diff(a, axis=-2) - np.diff(b, axis=-2))
    )
    value = restorekit.create("standard.gradient_l1")(output_of(pred), {"sharp": sharp})
    assert float(value) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "difference, weights",
    [("central", np.array([-0.5, 0.0, 0.5])), ("sobel", None)],
)
def test_gradient_kornia_modes_match_scipy(difference: str, weights: np.ndarray | None) -> None:
    pred, sharp = pair((1, 2, 6, 8))

    def grads(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if weights is not None:
            return (ndimage.correlate1d(x, weights, axis=-1, mode="nearest"), ndimage.correlate1d(x, weights, axis=-2, mode="nearest"))
        # the Sobel stencil, normalised to derivative units (/8) as kornia's normalized=True;
        # written as a 2-D kernel because ndimage.sobel would also smooth the batch/channel axes
        sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)[None, None] / 8
        sobel_y = np.swapaxes(sobel_x, -1, -2)
        return ndimage.correlate(x, sobel_x, mode="nearest"), ndimage.correlate(x, sobel_y, mode="nearest")

    (ax, ay), (bx, by) = grads(pred.numpy()), grads(sharp.numpy())
    expected = np.mean(np.abs(ax - bx)) + np.mean(np.abs(ay - by))
    value = restorekit.create("standard.gradient_l1", difference=difference)(output_of(pred), {"sharp": sharp})
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_gradient_l1_one_pixel_wide_image_is_finite() -> None:
    pred, sharp = pair((1, 1, 1, 5))
    value = restorekit.create("standard.gradient_l1")(output_of(pred), {"sharp": sharp})
    assert float(value) == pytest.approx(np.mean(np.abs(np.diff(pred.numpy() - sharp.numpy(), axis=-1))), rel=1e-12)


@pytest.mark.parametrize("name", ["edge", "gradient_l1"])
def test_conformance_and_gradients(name: str) -> None:
    loss = restorekit.create(f"standard.{name}", **({"penalty": "l1"} if name == "edge" else {}))
    check_loss(loss)
    pred, sharp = pair()
    pred.requires_grad_(True)
    (g,) = torch.autograd.grad(loss(output_of(pred), {"sharp": sharp}), pred)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="did you mean 'charbonnier'"):
        restorekit.create("standard.edge", penalty="charbonier")
    with pytest.raises(ConfigError, match="difference"):
        restorekit.create("standard.gradient_l1", difference="backward")

"""restorekit.functional.pad / pad_adjoint against numpy.pad and the dot-product test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restorekit import InputError
from restorekit.functional import pad, pad_adjoint

NUMPY_MODE = {"zeros": "constant", "circular": "wrap", "reflect": "reflect", "symmetric": "symmetric", "replicate": "edge"}
PADS = [(1, 2, 0, 3), (5, 7, 6, 4), 2]  # (5,7,6,4) exceeds the 4x5 image: periodic reflections


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize("padding", PADS)
def test_pad_matches_numpy(mode: str, padding) -> None:
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t, b, l, r = (padding,) * 4 if isinstance(padding, int) else padding
    ref = np.pad(x.numpy(), ((0, 0), (0, 0), (t, b), (l, r)), mode=NUMPY_MODE[mode])
    np.testing.assert_array_equal(pad(x, padding, mode).numpy(), ref)


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize("padding", PADS)
def test_pad_adjoint_dot_product(mode: str, padding) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 4, 5, dtype=torch.float64, generator=gen)
    px = pad(x, padding, mode)
    y = torch.randn(px.shape, dtype=torch.float64, generator=gen)
    lhs, rhs = (px * y).sum(), (x * pad_adjoint(y, padding, mode)).sum()
    assert abs(float(lhs - rhs)) / float(px.norm() * y.norm()) < 1e-14


def test_pad_adjoint_adds_margins_onto_sources() -> None:
    # 1-D example on a row of 3: reflect pads [c b | a b c | b a]; ones in the output
    # count how often each source pixel is copied
    y = torch.ones(1, 1, 1, 3 + 4)
    out = pad_adjoint(y, (0, 0, 2, 2), "reflect")
    assert out.flatten().tolist() == [2.0, 3.0, 2.0]
    out = pad_adjoint(y, (0, 0, 2, 2), "replicate")
    assert out.flatten().tolist() == [3.0, 1.0, 3.0]


def test_pad_errors() -> None:
    x = torch.zeros(1, 1, 3, 3)
    with pytest.raises(InputError, match="unknown padding mode"):
        pad(x, 1, "mirror")
    with pytest.raises(InputError, match=">= 0"):
        pad(x, (1, -1, 0, 0), "zeros")
    with pytest.raises(InputError, match="top, bottom, left, right"):
        pad(x, (1, 1), "zeros")

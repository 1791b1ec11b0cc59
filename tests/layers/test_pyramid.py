"""restorekit.layers.pyramid: the shared feature-pyramid contract, checked by Pipeline."""

from __future__ import annotations

import pytest

from restorekit import PieceSpec
from restorekit.layers import feature_pyramid_label, feature_pyramid_spec


def test_label_and_spec() -> None:
    spec = feature_pyramid_spec([8, 16], [1, 2], hint="fix it")
    assert spec.representation == feature_pyramid_label([8, 16], [1, 2]) == "feature_pyramid(channels=[8, 16], strides=[1, 2])"
    assert spec.scales == 2 and spec.hint == "fix it"


def test_equal_pyramids_match_and_different_ones_do_not() -> None:
    want = feature_pyramid_spec([8, 16, 32], [1, 2, 4])
    assert want.mismatches(feature_pyramid_spec([8, 16, 32], [1, 2, 4])) == []
    assert want.mismatches(PieceSpec()) == []  # an undeclared producer is never rejected
    assert want.mismatches(feature_pyramid_spec([8, 16, 64], [1, 2, 4]))
    assert want.mismatches(feature_pyramid_spec([8, 16, 32], [1, 2, 8]))
    assert any("scales" in m for m in want.mismatches(feature_pyramid_spec([8, 16], [1, 2])))


def test_one_stride_per_map() -> None:
    with pytest.raises(ValueError, match="one of each per map"):
        feature_pyramid_label([8, 16], [1])

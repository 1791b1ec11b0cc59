"""The contract of a feature pyramid, shared by encoders and decoders of different plugins.

An encoder that returns a pyramid (``Features.maps`` finest first, ``channels[i]`` at
``strides[i]``) declares :func:`feature_pyramid_spec` as its ``provides_spec()["features"]``;
a decoder that needs a given pyramid declares the same as its ``requires_spec()``.
:class:`restorekit.Pipeline` compares the two labels when it is built, so two plugins that
both use this helper get a build-time error for a channel or stride mismatch, and never a
false one for pyramids that agree.
"""

from __future__ import annotations

from ..interfaces import PieceSpec

__all__ = ["feature_pyramid_label", "feature_pyramid_spec"]


def feature_pyramid_label(channels: list[int], strides: list[int]) -> str:
    """``"feature_pyramid(channels=[64, 128], strides=[1, 2])"``: the canonical label."""
    channels, strides = [int(c) for c in channels], [int(s) for s in strides]
    if len(channels) != len(strides):
        raise ValueError(f"feature_pyramid_label: {len(channels)} channel counts but {len(strides)} strides; give one of each per map")
    return f"feature_pyramid(channels={channels}, strides={strides})"


def feature_pyramid_spec(channels: list[int], strides: list[int], hint: str = "") -> PieceSpec:
    """The :class:`restorekit.PieceSpec` of a pyramid: its label and the number of maps.

    Args:
        channels: channels of each map, finest first.
        strides: stride of each map relative to the input image, finest first.
        hint: how to fix a mismatch (shown when a consumer declares it).
    """
    return PieceSpec(representation=feature_pyramid_label(channels, strides), scales=len(channels), hint=hint)

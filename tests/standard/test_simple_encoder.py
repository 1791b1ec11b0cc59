"""standard.simple_encoder: declared channels/strides, shapes, errors, conformance."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import ConfigError, Encoder, InputError
from restorekit.testing import check_encoder


def test_shapes_channels_and_strides() -> None:
    enc = restorekit.create("standard.simple_encoder", in_channels=1, widths=[4, 6, 8, 10])
    assert isinstance(enc, Encoder)
    assert enc.out_channels == [4, 6, 8, 10] and enc.out_strides == [1, 2, 4, 8] and enc.size_multiple == 8
    feats = enc(torch.rand(2, 1, 16, 24))
    assert [tuple(m.shape) for m in feats.maps] == [(2, 4, 16, 24), (2, 6, 8, 12), (2, 8, 4, 6), (2, 10, 2, 3)]
    assert feats.channels == [4, 6, 8, 10] and feats.strides == [1, 2, 4, 8]
    assert enc.provides == {"features"} and enc.requires == frozenset()


def test_defaults_match_the_spec() -> None:
    enc = restorekit.create("standard.simple_encoder")
    assert enc.in_channels == 3 and enc.out_channels == [16, 32, 64] and enc.out_strides == [1, 2, 4]


def test_conformance() -> None:
    check_encoder(restorekit.create("standard.simple_encoder", widths=[4, 8]), in_shape=(2, 3, 8, 8))


def test_every_parameter_gets_a_gradient() -> None:
    enc = restorekit.create("standard.simple_encoder", widths=[3, 5])
    feats = enc(torch.rand(1, 3, 8, 8))
    params = list(enc.parameters())
    grads = torch.autograd.grad(sum(m.square().mean() for m in feats.maps), params)
    assert all(g.abs().sum() > 0 for g in grads)


def test_errors() -> None:
    enc = restorekit.create("standard.simple_encoder", widths=[4, 8, 8])
    with pytest.raises(InputError, match="in_channels: 1"):
        enc(torch.rand(1, 1, 8, 8))
    with pytest.raises(InputError, match="divisible by 4"):
        enc(torch.rand(1, 3, 8, 10))
    with pytest.raises(ConfigError, match="widths"):
        restorekit.create("standard.simple_encoder", widths=[])
    with pytest.raises(ConfigError, match="expected an integer"):
        restorekit.create("standard.simple_encoder", widths=[4.5])

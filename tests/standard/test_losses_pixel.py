"""standard.l1 / mse / charbonnier against closed forms computed in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import restorekit
from restorekit import ConfigError, InputError
from restorekit.testing import check_loss

from ._helpers import output_of, pair


def test_l1_of_a_known_constant_difference() -> None:
    sharp = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    restored = sharp + 0.25
    restored[0, 0] -= 0.5  # channel 0 differs by -0.25, others by +0.25 -> |d| = 0.25 everywhere
    value = restorekit.create("standard.l1")(output_of(restored), {"sharp": sharp})
    assert float(value) == pytest.approx(0.25, abs=1e-15)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("l1", lambda d: np.mean(np.abs(d))),
        ("mse", lambda d: np.mean(d**2)),
        ("charbonnier", lambda d: np.mean(np.sqrt(d**2 + 1e-3**2))),
    ],
)
def test_pixel_losses_match_numpy(name: str, reference) -> None:
    pred, sharp = pair()
    value = restorekit.create(f"standard.{name}")(output_of(pred), {"sharp": sharp})
    expected = reference(pred.numpy() - sharp.numpy())
    assert value.dim() == 0
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_charbonnier_eps_option_and_value_at_target() -> None:
    pred, sharp = pair()
    loss = restorekit.create("standard.charbonnier", eps=0.1)
    d = pred.numpy() - sharp.numpy()
    assert float(loss(output_of(pred), {"sharp": sharp})) == pytest.approx(np.mean(np.sqrt(d**2 + 0.01)), rel=1e-12)
    # sqrt(0 + eps^2) = eps at the target: the paper's form, not shifted to 0
    assert float(loss(output_of(sharp.clone()), {"sharp": sharp})) == pytest.approx(0.1, rel=1e-12)


@pytest.mark.parametrize("name", ["l1", "mse"])
def test_zero_for_identical_inputs(name: str) -> None:
    _, sharp = pair()
    assert float(restorekit.create(f"standard.{name}")(output_of(sharp.clone()), {"sharp": sharp})) == 0.0


@pytest.mark.parametrize("name", ["l1", "mse", "charbonnier"])
def test_conformance_and_finite_gradient(name: str) -> None:
    loss = restorekit.create(f"standard.{name}")
    check_loss(loss, zero_at_target=name != "charbonnier")
    pred, sharp = pair()
    pred.requires_grad_(True)
    (g,) = torch.autograd.grad(loss(output_of(pred), {"sharp": sharp}), pred)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_mse_gradient_closed_form() -> None:
    pred, sharp = pair()
    pred.requires_grad_(True)
    (g,) = torch.autograd.grad(restorekit.create("standard.mse")(output_of(pred), {"sharp": sharp}), pred)
    expected = 2 * (pred.detach() - sharp) / pred.numel()
    torch.testing.assert_close(g, expected, rtol=1e-12, atol=0)


def test_declarations() -> None:
    loss = restorekit.create("standard.l1")
    assert loss.batch_requires == {"sharp"}
    assert loss.requires == frozenset()
    assert restorekit.create("standard.l1", target="intermediates").requires == {"intermediates"}


def test_missing_sharp_is_a_clear_error() -> None:
    pred, _ = pair()
    with pytest.raises(KeyError, match="sharp"):
        restorekit.create("standard.l1")(output_of(pred), {"blurry": pred})


def test_shape_mismatch_is_a_clear_error() -> None:
    pred, _ = pair((1, 3, 8, 8))
    _, sharp = pair((1, 3, 8, 10))
    with pytest.raises(InputError, match="crop the restored image"):
        restorekit.create("standard.mse")(output_of(pred), {"sharp": sharp})
    with pytest.raises(InputError, match="channels must match"):
        restorekit.create("standard.mse")(output_of(pred[:, :1]), {"sharp": pred})


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="eps"):
        restorekit.create("standard.charbonnier", eps=0.0)
    with pytest.raises(ConfigError, match="did you mean 'intermediates'"):
        restorekit.create("standard.l1", target="intermediate")
    with pytest.raises(ConfigError, match="scale_weights"):
        restorekit.create("standard.l1", scale_weights=[1.0, 0.5])


def test_half_precision_input_is_evaluated_in_float32() -> None:
    pred, sharp = pair(dtype=torch.float32)
    value = restorekit.create("standard.mse")(output_of(pred.half()), {"sharp": sharp.half()})
    assert value.dtype == torch.float32
    expected = np.mean((pred.half().float().numpy() - sharp.half().float().numpy()) ** 2)
    assert float(value) == pytest.approx(expected, rel=1e-5)

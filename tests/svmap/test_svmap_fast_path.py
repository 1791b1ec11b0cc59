"""SVMAP's CPU inference path (Numba stencil / tap kernels, strip-wise filter nets,
chunked channels-last convolutions) gives the results of the PyTorch path it replaces.

The reference is the same model run with ``RESTOREKIT_KERNELS=reference`` (the
shifted-view loops of :mod:`restorekit.plugins.svmap.filter_bank` on whole-image
predictions), itself tested against :mod:`restorekit.kernels.reference` and by gradcheck.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import restorekit.kernels as K
from restorekit import BlurEstimate
from restorekit.plugins.svmap.filter_bank import FilterBank, stencil_pays
from restorekit.plugins.svmap.filters_net import PredictionNet
from restorekit.plugins.svmap.svmap_irls import SVMAP

pytest.importorskip("restorekit.kernels.numba_pixel_gram")


def _model(**opts) -> SVMAP:
    torch.manual_seed(0)
    model = SVMAP(**opts).double().eval()
    for p in model.parameters():  # filters far from the δ / zero initialisation
        nn.init.normal_(p, std=0.2)
    return model


def _run(model: SVMAP, y: torch.Tensor, est: BlurEstimate, monkeypatch: pytest.MonkeyPatch, backend: str) -> torch.Tensor:
    monkeypatch.setenv(K.ENV_VAR, backend)
    with torch.no_grad():
        return model(y, None, est, None).restored


@pytest.mark.parametrize("opts,size,ksize", [
    # both banks as stencils (small SVMAP); > 1.5 strips of rows: two strips per net
    (dict(width=4, layers=2, data_filter_size=5, reg_filter_size=5, cg_iterations=4), (176, 21), 5),
    # paper sizes: s_f = 11 by its taps, s_g = 7 as a stencil
    (dict(width=4, layers=1, data_filter_size=11, reg_filter_size=7, cg_iterations=3), (176, 21), 5),
    (dict(width=4, layers=1, data_filter_size=3, reg_filter_size=5, cg_iterations=3, map_input="both"), (176, 21), 5),
    # three strips, and an observation narrower than the data filters
    (dict(width=4, layers=1, data_filter_size=5, reg_filter_size=5, cg_iterations=3), (300, 4), 3),
])
def test_fast_path_equals_the_reference_path(opts: dict, size: tuple[int, int], ksize: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.rand(1, 2, *size, generator=g, dtype=torch.float64)
    k = torch.rand(1, 1, ksize, ksize, generator=g, dtype=torch.float64)
    est = BlurEstimate(kernel=k / k.sum(), map=torch.rand(1, 1, *size, generator=g, dtype=torch.float64))
    model = _model(**opts)
    ref = _run(model, y, est, monkeypatch, "reference")
    fast = _run(model, y, est, monkeypatch, "auto")
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-10)
    assert (fast - y).abs().max() > 1e-3  # the solve did something


def test_fast_path_equals_the_reference_path_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled model's precision: equal to float32 rounding."""
    g = torch.Generator().manual_seed(6)
    y = torch.rand(1, 3, 130, 40, generator=g)
    k = torch.rand(1, 1, 7, 7, generator=g)
    est = BlurEstimate(kernel=k / k.sum())
    model = _model(width=4, layers=2, data_filter_size=5, reg_filter_size=5, cg_iterations=5).float()
    ref = _run(model, y, est, monkeypatch, "reference")
    fast = _run(model, y, est, monkeypatch, "auto")
    torch.testing.assert_close(fast, ref, rtol=0, atol=2e-5)


@pytest.mark.parametrize("env", ["auto", "numba"])
def test_gradients_never_take_the_numba_path(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With autograd on, even ``RESTOREKIT_KERNELS=numba`` keeps the differentiable path:
    the same gradients as the reference."""
    net = PredictionNet(1, 3 * 25, width=4, layers=1).double()
    g = torch.Generator().manual_seed(7)
    x = torch.rand(1, 1, 9, 8, generator=g, dtype=torch.float64)
    u = torch.rand(1, 1, 9, 8, generator=g, dtype=torch.float64, requires_grad=True)

    def grads(backend: str) -> list[torch.Tensor]:
        monkeypatch.setenv(K.ENV_VAR, backend)
        net.zero_grad()
        u.grad = None
        FilterBank.from_net(net, x, 3, delta=True).normal(u).square().sum().backward()
        return [u.grad.clone(), net.output_conv.weight.grad.clone()]

    for a, b in zip(grads(env), grads("reference")):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_banks_take_the_stencil_path_only_for_inference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(K.ENV_VAR, raising=False)
    net = PredictionNet(1, 5 * 25, width=4, layers=1).double()
    x = torch.rand(2, 1, 9, 8, dtype=torch.float64)
    with torch.no_grad():
        assert FilterBank.from_net(net, x, 5, zero_mean=True).stencil is not None
    assert FilterBank.from_net(net, x, 5, zero_mean=True).stencil is None  # gradients: the autograd path
    monkeypatch.setenv(K.ENV_VAR, "reference")
    with torch.no_grad():
        assert FilterBank.from_net(net, x, 5, zero_mean=True).stencil is None
    assert stencil_pays(3, 5) and stencil_pays(5, 7) and not stencil_pays(3, 11) and not stencil_pays(1, 5)


def test_stencil_bank_still_applies_its_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stencil bank lays its taps out on demand: F u, Fᵀ r and the weighted normal match."""
    net = PredictionNet(1, 3 * 25, width=4, layers=1).double()
    nn.init.normal_(net.output_conv.weight, std=0.3)
    g = torch.Generator().manual_seed(2)
    x, u = torch.rand(2, 2, 1, 12, 10, generator=g, dtype=torch.float64)
    r, w = torch.rand(2, 2, 3, 12, 10, generator=g, dtype=torch.float64)
    with torch.no_grad():
        monkeypatch.setenv(K.ENV_VAR, "reference")
        ref = FilterBank.from_net(net, x, 3, delta=True)
        want = (ref(u), ref.adjoint(r), ref.normal(u, w), ref.normal(u))
        monkeypatch.setenv(K.ENV_VAR, "auto")
        fast = FilterBank.from_net(net, x, 3, delta=True)
        assert fast.stencil is not None and fast._taps is None
        got = (fast(u), fast.adjoint(r), fast.normal(u, w), fast.normal(u))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    # weights that broadcast, and weights of another dtype, keep the reference's semantics
    for wt in (w[:, :1], w[:, :, :1], w.float()):
        with torch.no_grad():
            monkeypatch.setenv(K.ENV_VAR, "reference")
            want = ref.normal(u, wt)
            monkeypatch.setenv(K.ENV_VAR, "auto")
            got = fast.normal(u, wt)
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["none", "sigmoid"])
def test_prediction_net_cpu_forward_equals_the_plain_sequential(activation: str) -> None:
    """Channels-last convolutions with the last layer split into 32-channel chunks compute
    the same function as the layers run one after another in NCHW."""
    torch.manual_seed(3)
    net = PredictionNet(2, 75, width=8, layers=2, out_activation=activation).double()
    x = torch.rand(2, 2, 13, 11, dtype=torch.float64)
    want = nn.Sequential.forward(net, x)
    assert len(net.forward_chunks(x)) == 1  # with gradients: the layers as they are
    with torch.no_grad():
        chunks = net.forward_chunks(x)
        assert [c.shape[1] for c in chunks] == [32, 32, 11]
        assert chunks[0].is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(torch.cat(chunks, dim=1), want, rtol=0, atol=1e-12)
        torch.testing.assert_close(net(x), want, rtol=0, atol=1e-12)
    assert net.receptive_radius == 3

"""The restorekit.kernels dispatcher (backend choice, lazy Triton import) and the RKR cost model."""

from __future__ import annotations

import sys
import types

import pytest
import torch

import restorekit.kernels as K
from restorekit.kernels import reference as ref


def _rkr_args() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 6, 6, generator=g)
    atoms = torch.rand(3, 3, 3, generator=g)
    gamma = torch.randn(1, 4, 6, 6, generator=g)
    weight = torch.randn(3, 12, generator=g)
    bias = torch.randn(3, generator=g)
    return x, atoms, gamma, weight, bias


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(K.ENV_VAR, raising=False)


def test_auto_on_cpu_runs_the_reference(no_env: None) -> None:
    x, atoms, gamma, weight, bias = _rkr_args()
    assert K.resolve_backend("rkr_apply", "auto", x) == "reference"
    assert torch.equal(K.rkr_apply(x, atoms, gamma, weight, bias), ref.rkr_apply(x, atoms, gamma, weight, bias))
    assert torch.equal(K.rkr_apply_adjoint(x, atoms, gamma, weight), ref.rkr_apply_adjoint(x, atoms, gamma, weight))
    assert torch.equal(K.separable_conv3_reflect(x, atoms[0], atoms[1]), ref.separable_conv3_reflect(x, atoms[0], atoms[1]))
    f = torch.randn(1, 3, 9, 6, 6)
    assert torch.equal(K.pixel_filter_apply(x, f, True), ref.pixel_filter_apply(x, f, True))
    assert torch.equal(K.pixel_filter_adjoint(x, f), ref.pixel_filter_adjoint(x, f))


def test_unknown_backend_and_env_value_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    x, atoms, gamma, *_ = _rkr_args()
    with pytest.raises(K.KernelBackendError, match="unknown kernel backend 'cuda'"):
        K.rkr_apply(x, atoms, gamma, backend="cuda")
    monkeypatch.setenv(K.ENV_VAR, "fast")
    with pytest.raises(K.KernelBackendError, match="RESTOREKIT_KERNELS='fast'"):
        K.rkr_apply(x, atoms, gamma)


def test_missing_triton_kernel_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch, no_env: None) -> None:
    x, atoms, gamma, *_ = _rkr_args()
    monkeypatch.setitem(K._TRITON_SOURCES, "rkr_apply", ("triton_module_that_does_not_exist", "f"))
    assert not K.triton_available("rkr_apply")
    with pytest.raises(K.KernelBackendError, match="Triton backend of rkr_apply was requested but is unavailable"):
        K.rkr_apply(x, atoms, gamma, backend="triton")
    # "auto" never fails because of it
    assert torch.equal(K.rkr_apply(x, atoms, gamma), ref.rkr_apply(x, atoms, gamma))


def _install_fake_triton(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """A fake Triton module for rkr_apply that records its calls (no GPU needed)."""
    calls: list[tuple] = []
    fake = types.ModuleType("restorekit.kernels.triton_fake_for_tests")

    def rkr_apply_fake(*args):
        calls.append(args)
        return ref.rkr_apply(*args) + 1.0

    fake.rkr_apply_fake = rkr_apply_fake
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    if "triton" not in sys.modules:
        try:
            import triton  # noqa: F401
        except ImportError:
            monkeypatch.setitem(sys.modules, "triton", types.ModuleType("triton"))
    monkeypatch.setitem(K._TRITON_SOURCES, "rkr_apply", ("triton_fake_for_tests", "rkr_apply_fake"))
    return calls


def test_explicit_triton_calls_the_triton_function(monkeypatch: pytest.MonkeyPatch, no_env: None) -> None:
    calls = _install_fake_triton(monkeypatch)
    x, atoms, gamma, weight, bias = _rkr_args()
    y = K.rkr_apply(x, atoms, gamma, weight, bias, backend="triton")
    assert len(calls) == 1 and calls[0][0] is x and calls[0][3] is weight and calls[0][4] is bias
    torch.testing.assert_close(y, ref.rkr_apply(x, atoms, gamma, weight, bias) + 1.0)
    # auto on a CPU tensor still takes the reference
    assert torch.equal(K.rkr_apply(x, atoms, gamma, weight, bias), ref.rkr_apply(x, atoms, gamma, weight, bias))
    assert len(calls) == 1


def test_env_sets_what_auto_means(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _install_fake_triton(monkeypatch)
    x, atoms, gamma, *_ = _rkr_args()
    monkeypatch.setenv(K.ENV_VAR, "triton")
    K.rkr_apply(x, atoms, gamma)
    assert len(calls) == 1
    monkeypatch.setenv(K.ENV_VAR, "reference")
    assert K.resolve_backend("rkr_apply", "auto", x) == "reference"
    assert torch.equal(K.rkr_apply(x, atoms, gamma), ref.rkr_apply(x, atoms, gamma))
    assert len(calls) == 1
    # an explicit argument wins over the environment
    K.rkr_apply(x, atoms, gamma, backend="triton")
    assert len(calls) == 2


def test_traffic_model_numbers_of_the_spec() -> None:
    assert K.rkr_traffic_floats_per_pixel(21, fused=False) == 865  # 18J + 22(J+1) + 3
    assert K.rkr_traffic_floats_per_pixel(21, fused=True) == 28  # J + 7
    halo = K.rkr_traffic_floats_per_pixel(21, fused=True, tile=64)
    assert halo == pytest.approx(3 * (64 + 42) ** 2 / 64**2 + 25)
    assert round(halo) == 33 and round(K.tile_halo_factor(21, 64), 2) == 2.74
    assert round(865 / halo) == 26  # the spec's "≈ 26× reduction"
    assert K.rkr_macs_per_pixel(21) == 378
    assert K.rkr_macs_per_pixel(21, include_weighting=True) == 378 + 9 * 22
    with pytest.raises(ValueError, match="num_kernels"):
        K.rkr_traffic_floats_per_pixel(-1, fused=True)

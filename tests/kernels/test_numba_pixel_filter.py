"""The Numba CPU kernels of per-pixel filter banks against the PyTorch reference.

* tap layout (:func:`pixel_filter_rows`): equal to reshaping the prediction, with the
  zero-mean and Dirac transforms of the svmap plugin, from one tensor or channel chunks,
  channels-last or not;
* fused normal (:func:`pixel_filter_normal_numba`): equal to apply → weights → adjoint of
  :mod:`restorekit.kernels.reference` (float64 to 1e-12);
* symmetric stencil (:func:`pixel_filter_gram`, :func:`pixel_filter_normal_gram`): the
  same normal operator for s = 3, 5, 7, strip-wise builds equal the whole-image build, and
  the operator is symmetric;
* the dispatcher picks Numba on the CPU only without gradients.
"""

from __future__ import annotations

import pytest
import torch

import restorekit.kernels as K
from restorekit.kernels import reference as ref

numba_pf = pytest.importorskip("restorekit.kernels.numba_pixel_filter")
numba_gram = pytest.importorskip("restorekit.kernels.numba_pixel_gram")


def _prediction(B: int, n: int, s: int, H: int, W: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, n * s * s, H, W, generator=g, dtype=dtype)


def _taps_reference(pred: torch.Tensor, n: int, zero_mean: bool, delta: bool) -> torch.Tensor:
    """The transforms written out independently: mean over each filter's taps, Dirac at the centre."""
    B, nss, H, W = pred.shape
    t = pred.reshape(B, n, nss // n, H, W).clone()
    if zero_mean:
        t = t - t.mean(dim=2, keepdim=True)
    if delta:
        t[:, :, (nss // n) // 2] += 1.0
    return t


def _normal_reference(u: torch.Tensor, taps: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    B, n, _, H, W = taps.shape
    r = ref.pixel_filter_apply(u.expand(B, n, H, W), taps)
    if w is not None:
        r = r * w
    return ref.pixel_filter_adjoint(r, taps).sum(dim=1, keepdim=True)


@pytest.mark.parametrize("zero_mean,delta", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "chunks"])
def test_rows_layout_equals_the_reshaped_prediction(zero_mean: bool, delta: bool, layout: str) -> None:
    pred = _prediction(2, 3, 5, 7, 9, torch.float64)
    src: torch.Tensor | list[torch.Tensor] = pred
    if layout == "channels_last":
        src = pred.contiguous(memory_format=torch.channels_last)
    elif layout == "chunks":
        src = [c.contiguous(memory_format=torch.channels_last) for c in pred.split(32, dim=1)]
    got = numba_pf.pixel_filter_rows(src, 3, zero_mean=zero_mean, delta=delta)
    assert got.shape == (2, 3, 25, 7, 9)
    torch.testing.assert_close(got, _taps_reference(pred, 3, zero_mean, delta), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("B,n,s,H,W", [(2, 3, 5, 11, 13), (1, 2, 3, 5, 4), (1, 1, 7, 9, 17), (3, 2, 5, 20, 8)])
def test_fused_normal_equals_apply_then_adjoint(dtype: torch.dtype, tol: float, B: int, n: int, s: int, H: int, W: int) -> None:
    taps = _prediction(B, n, s, H, W, dtype).reshape(B, n, s * s, H, W)
    g = torch.Generator().manual_seed(1)
    u = torch.randn(B, 1, H, W, generator=g, dtype=dtype)
    w = torch.rand(B, n, H, W, generator=g, dtype=dtype)
    for weights in (None, w):
        want = _normal_reference(u, taps, weights)
        got = numba_pf.pixel_filter_normal_numba(u, taps, weights)  # NCHW taps: copied to the row layout
        torch.testing.assert_close(got, want, rtol=tol, atol=tol * want.abs().max().item())
        rows = numba_pf.pixel_filter_rows(taps.reshape(B, n * s * s, H, W), n)
        torch.testing.assert_close(numba_pf.pixel_filter_normal_numba(u, rows, weights), got, rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-6)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("B,n,s,H,W", [(2, 3, 5, 17, 23), (1, 2, 3, 9, 8), (2, 1, 7, 12, 15), (1, 2, 5, 3, 4)])
@pytest.mark.parametrize("zero_mean,delta", [(False, False), (True, False), (False, True)])
def test_stencil_normal_equals_apply_then_adjoint(dtype: torch.dtype, tol: float, B: int, n: int, s: int, H: int, W: int,
                                                  zero_mean: bool, delta: bool) -> None:
    pred = _prediction(B, n, s, H, W, dtype).contiguous(memory_format=torch.channels_last)
    u = torch.randn(B, 1, H, W, generator=torch.Generator().manual_seed(2), dtype=dtype)
    stencil = numba_gram.pixel_filter_gram(list(pred.split(32, dim=1)), n, zero_mean=zero_mean, delta=delta)
    assert stencil.shape == (B, H, ((2 * s - 1) ** 2 + 1) // 2, W)
    want = _normal_reference(u, _taps_reference(pred, n, zero_mean, delta))
    got = numba_gram.pixel_filter_normal_gram(u, stencil)
    torch.testing.assert_close(got, want, rtol=tol, atol=tol * want.abs().max().item())


def test_stencil_offsets_are_the_half_plane() -> None:
    for s in (3, 5, 7):
        d = numba_gram.gram_offsets(s)
        e = s - 1
        half = {(int(a), int(b)) for a, b in d}
        assert len(half) == len(d) == ((2 * s - 1) ** 2 + 1) // 2 and tuple(d[0]) == (0, 0)
        full = {(a, b) for a in range(-e, e + 1) for b in range(-e, e + 1)}
        assert half | {(-a, -b) for a, b in half} == full  # D₊ ∪ −D₊ covers every offset
        assert half & {(-a, -b) for a, b in half} == {(0, 0)}  # and only the centre twice


def test_stencil_operator_is_symmetric_in_float64() -> None:
    pred = _prediction(2, 4, 5, 13, 11, torch.float64, seed=3)
    stencil = numba_gram.pixel_filter_gram(pred, 4, zero_mean=True)
    g = torch.Generator().manual_seed(4)
    u, v = torch.randn(2, 2, 1, 13, 11, generator=g, dtype=torch.float64)
    lhs = (v * numba_gram.pixel_filter_normal_gram(u, stencil)).sum()
    rhs = (numba_gram.pixel_filter_normal_gram(v, stencil) * u).sum()
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


def test_strip_builds_equal_the_whole_image() -> None:
    """Rows built strip by strip from taps of the strip plus a halo equal the whole build."""
    B, n, s, H, W = 2, 3, 5, 23, 10
    pred = _prediction(B, n, s, H, W, torch.float64, seed=5)
    whole = numba_gram.pixel_filter_gram(pred, n, zero_mean=True)
    strips = numba_gram.gram_stencil(B, H, W, s, torch.float64)
    c = s // 2
    for y0, y1 in [(0, 7), (7, 8), (8, 16), (16, 23)]:
        i0, i1 = max(0, y0 - c - 1), min(H, y1 + c + 2)  # any window covering the rows ± c
        numba_gram.pixel_filter_gram_rows(strips, pred[:, :, i0:i1], n, (y0, y1), i0, zero_mean=True)
    torch.testing.assert_close(strips, whole, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="do not cover rows"):
        numba_gram.pixel_filter_gram_rows(strips, pred[:, :, 5:12], n, (4, 10), 5)


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="not n·s²"):
        numba_pf.pixel_filter_rows(torch.randn(1, 24, 4, 4), 2)
    with pytest.raises(ValueError, match="float32 or float64"):
        numba_gram.pixel_filter_gram(torch.randn(1, 18, 4, 4).half(), 2)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        numba_pf.pixel_filter_normal_numba(torch.randn(1, 2, 4, 4), torch.randn(1, 2, 9, 4, 4))
    with pytest.raises(ValueError, match="weights must be"):
        numba_pf.pixel_filter_normal_numba(torch.randn(1, 1, 4, 4), torch.randn(1, 2, 9, 4, 4), torch.randn(1, 3, 4, 4))


def test_dispatcher_uses_numba_on_the_cpu_without_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(K.ENV_VAR, raising=False)
    u = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    taps = torch.randn(1, 2, 9, 6, 6, dtype=torch.float64)
    assert K.backends_for("pixel_filter_normal") == ("auto", "triton", "numba", "reference")
    assert K.backends_for("rkr_apply") == ("auto", "triton", "reference")
    assert K.resolve_backend("pixel_filter_normal", "auto", u, taps) == "numba"
    torch.testing.assert_close(K.pixel_filter_normal(u, taps), ref.pixel_filter_normal(u, taps), rtol=0, atol=1e-12)
    t = taps.clone().requires_grad_(True)
    assert K.resolve_backend("pixel_filter_normal", "auto", u, t) == "reference"  # autograd needs the reference
    K.pixel_filter_normal(u, t).sum().backward()
    assert t.grad is not None
    with torch.no_grad():
        assert K.resolve_backend("pixel_filter_normal", "auto", u, t) == "numba"
    with pytest.raises(K.KernelBackendError, match="forward only"):
        K.pixel_filter_normal(u, t, backend="numba")
    with pytest.raises(K.KernelBackendError, match="has no 'numba' backend"):
        K.rkr_apply(u, torch.rand(1, 3, 3), torch.randn(1, 2, 6, 6), backend="numba")
    monkeypatch.setenv(K.ENV_VAR, "reference")
    assert K.resolve_backend("pixel_filter_normal", "auto", u, taps) == "reference"
    monkeypatch.setenv(K.ENV_VAR, "numba")  # forces Numba where a kernel has one, the rule elsewhere
    assert K.resolve_backend("pixel_filter_normal", "auto", u, taps) == "numba"
    assert K.resolve_backend("rkr_apply", "auto", u) == "reference"


def test_dispatcher_sends_what_numba_does_not_take_to_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(K.ENV_VAR, raising=False)
    g = torch.Generator().manual_seed(8)
    u = torch.randn(3, 1, 6, 7, generator=g, dtype=torch.float64)
    taps = torch.randn(1, 2, 9, 6, 7, generator=g, dtype=torch.float64)  # shared by the batch: Numba takes it
    w = torch.rand(3, 2, 6, 7, generator=g, dtype=torch.float64)
    assert K.resolve_backend("pixel_filter_normal", "auto", u, taps, w) == "numba"
    torch.testing.assert_close(K.pixel_filter_normal(u, taps, w), ref.pixel_filter_normal(u, taps, w), rtol=0, atol=1e-12)
    for args in [(u.bfloat16(), taps, None), (u.half(), taps, None),  # dtypes it does not compile
                 (u.float(), taps, w)]:  # weights of another dtype
        assert K.resolve_backend("pixel_filter_normal", "auto", *args) == "reference"
        got = K.pixel_filter_normal(*args)
        want = ref.pixel_filter_normal(*args)
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_missing_numba_falls_back_to_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(K.ENV_VAR, raising=False)
    monkeypatch.setitem(K._NUMBA_SOURCES, "pixel_filter_normal", ("numba_module_that_does_not_exist", "f"))
    u, taps = torch.randn(1, 1, 5, 5), torch.randn(1, 2, 9, 5, 5)
    assert not K.numba_available("pixel_filter_normal")
    assert K.resolve_backend("pixel_filter_normal", "auto", u, taps) == "reference"
    with pytest.raises(K.KernelBackendError, match="Numba backend of pixel_filter_normal was requested but is unavailable"):
        K.pixel_filter_normal(u, taps, backend="numba")


def test_kernels_leave_pytorch_thread_count_alone() -> None:
    """Numba's OpenMP pool shares the runtime with PyTorch; a kernel call must not change
    how many threads PyTorch uses afterwards (nor, through that, its results)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        pred = _prediction(1, 2, 3, 6, 6, torch.float32)
        numba_gram.pixel_filter_normal_gram(torch.randn(1, 1, 6, 6), numba_gram.pixel_filter_gram(pred, 2))
        numba_pf.pixel_filter_normal_numba(torch.randn(1, 1, 6, 6), numba_pf.pixel_filter_rows(pred, 2))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

"""Conformance checks that every component (built-in or third-party) should pass.

Modelled on kornia's ``testing/base.py`` template (smoke, exceptions, cardinality, feature,
gradcheck), as plain functions that raise ``AssertionError`` with a message saying what is
wrong, so plugin authors can call them from any test runner. Every check runs its smoke
tests over a device × dtype matrix (CPU float32/float64, and CUDA when present) and
``torch.autograd.gradcheck`` in float64 on small inputs, with respect to the inputs and the
trainable parameters (see :mod:`restorekit.testing.gradients`; opt out per component with
``gradcheck_exempt = "<reason>"``)::

    from restorekit.testing import check_operator
    check_operator(MyBlur(), in_shape=(2, 3, 16, 16), params={"kernel": k})

Each check builds inputs that contain *only* what the component declares it requires, so
an undeclared dependency shows up as a failure ("provides/requires honesty").
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from .gradients import dtype_matrix, exemption, gradcheck_module, run_gradcheck, to_dtype
from ..interfaces import (
    BlurEstimate,
    BlurEstimator,
    Decoder,
    DecoderOutput,
    Encoder,
    Features,
    Loss,
    Operator,
    PipelineOutput,
)

ADJOINT_TOL = {torch.float64: 1e-10, torch.float32: 1e-4}
"""Adjointness / linearity tolerances of operators_and_kernels.md §1."""


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


def _assert_finite(t: Tensor, what: str) -> None:
    assert torch.isfinite(t).all(), f"{what} contains NaN or Inf"


def _grad_reaches(module: nn.Module, scalar: Tensor, what: str) -> None:
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return
    grads = torch.autograd.grad(scalar, params, allow_unused=True)
    if all(g is None or not torch.any(g != 0) for g in grads):
        raise AssertionError(f"{what}: no gradient reaches any of the {len(params)} trainable parameters")
    for g in grads:
        if g is not None:
            _assert_finite(g, f"{what}: a parameter gradient")


def _clone_params(params: Mapping[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, Tensor) and v.is_floating_point():
            out[k] = v.to(dtype)
        elif isinstance(v, (list, tuple)) and v and all(isinstance(t, Tensor) for t in v):
            out[k] = type(v)(t.to(dtype) if t.is_floating_point() else t for t in v)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------


def check_operator(
    op: Operator,
    in_shape: tuple[int, ...],
    params: Mapping[str, Any],
    dtypes: tuple[torch.dtype, ...] = (torch.float64, torch.float32),
    seed: int = 0,
    check_param_grads: bool = True,
    gradcheck: bool | str = True,
    gradcheck_shape: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Adjointness, linearity, declared output shape, determinism and gradients of an operator.

    ``params`` are the call parameters (``kernel=…``, ``coefficients=…``). For affine
    operators the linear part (``A_linear``) is tested, as the spec requires. ``gradcheck``
    runs ``torch.autograd.gradcheck`` (float64) of ``A`` and ``A_adjoint`` with respect to
    the input, the floating parameters and the operator's own trainable parameters on
    ``gradcheck_shape`` (default: ``in_shape``; parameters must fit it).

    Returns the measured relative errors ``{"adjoint_float64": …, "linear_float64": …}``
    (and ``"gradcheck": "passed"`` or the reason it was skipped).
    """
    assert isinstance(op, Operator), f"{type(op).__name__} is not a restorekit.Operator"
    assert op.weighting in ("none", "input", "output"), f"weighting must be none|input|output, got {op.weighting!r}"
    missing = [r for r in op.requires if not any(a.strip() in params for a in r.split("|"))]
    assert not missing, f"check_operator: params lack the operator's declared requirement(s) {missing}"
    results: dict[str, float] = {}
    op = op.double() if torch.float64 in dtypes else op
    for dtype in dtypes:
        op = op.to(dtype)
        p = _clone_params(params, dtype)
        gen = torch.Generator().manual_seed(seed + 1)
        u = torch.randn(in_shape, generator=gen, dtype=dtype)
        w = torch.randn(in_shape, generator=gen, dtype=dtype)
        a, b = 0.7, -1.3
        Au, Aw = op.A_linear(u, **p), op.A_linear(w, **p)
        lhs = op.A_linear(a * u + b * w, **p)
        lin = float(((lhs - a * Au - b * Aw).norm() / (abs(a) * Au.norm() + abs(b) * Aw.norm())).detach())
        results[f"linear_{str(dtype).split('.')[-1]}"] = lin
        assert lin < ADJOINT_TOL[dtype], f"linearity test failed in {dtype}: rel = {lin:.3e}"
        rel = op.adjointness_error(in_shape, dtype=dtype, seed=seed, **p)
        results[f"adjoint_{str(dtype).split('.')[-1]}"] = rel
        assert rel < ADJOINT_TOL[dtype], f"adjointness test failed in {dtype}: rel = {rel:.3e} ≥ {ADJOINT_TOL[dtype]:.0e}"
        expected = tuple(op.out_shape(tuple(in_shape), **p))
        assert tuple(Au.shape) == expected, f"A returned shape {tuple(Au.shape)} but out_shape() says {expected}"
        again = op.A_linear(u, **p)
        assert torch.equal(again, Au), "A is not deterministic (two calls on the same input differ)"
    # gradients: w.r.t. x and every floating tensor parameter
    dtype = dtypes[0]
    op = op.to(dtype)
    p = _clone_params(params, dtype)
    x = torch.randn(in_shape, dtype=dtype, generator=torch.Generator().manual_seed(seed + 2), requires_grad=True)
    grad_params = {k: v.detach().clone().requires_grad_(True) for k, v in p.items() if isinstance(v, Tensor) and v.is_floating_point()} if check_param_grads else {}
    y = op.A(x, **{**p, **grad_params})
    (gx, *gp) = torch.autograd.grad(y.square().sum(), [x, *grad_params.values()], allow_unused=True)
    assert gx is not None and torch.any(gx != 0), "no gradient flows from A(x) back to x"
    for name, g in zip(grad_params, gp):
        assert g is not None, f"A is not differentiable with respect to its parameter '{name}'"
        _assert_finite(g, f"gradient w.r.t. '{name}'")
    reason = exemption(op, gradcheck)
    if reason is None:
        _gradcheck_operator(op, tuple(gradcheck_shape or in_shape), params, seed, check_param_grads)
        results["gradcheck"] = "passed"
    else:
        results["gradcheck"] = f"skipped: {reason}"
    return results


def _gradcheck_operator(op: Operator, shape: tuple[int, ...], params: Mapping[str, Any], seed: int, with_params: bool) -> None:
    for device in [d for d, t in dtype_matrix((torch.float64,))]:
        p = to_dtype(dict(params), torch.float64, device)
        tensor_keys = [k for k, v in p.items() if isinstance(v, Tensor) and v.is_floating_point()] if with_params else []
        gen = torch.Generator().manual_seed(seed + 3)
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(device)
        y = torch.randn(tuple(op.out_shape(shape, **p)), generator=gen, dtype=torch.float64).to(device)
        for name, method, arg in (("A", "A", x), ("A_adjoint", "A_adjoint", y)):
            def fwd(m: nn.Module, inputs: tuple[Tensor, ...], method: str = method) -> Tensor:
                call = {**p, **dict(zip(tensor_keys, inputs[1:]))}
                return getattr(m, method)(inputs[0], **call)

            gradcheck_module(op, fwd, [arg, *[p[k] for k in tensor_keys]], f"{type(op).__name__}.{name} on {device}", device)


# ---------------------------------------------------------------------------------------
# Encoders, estimators, decoders, losses
# ---------------------------------------------------------------------------------------


def check_encoder(
    encoder: Encoder,
    in_shape: tuple[int, ...] = (2, 3, 32, 32),
    seed: int = 0,
    gradcheck: bool | str = True,
    gradcheck_shape: tuple[int, ...] | None = None,
) -> Features:
    """Features match the declared channels/strides, keep dtype on every device × dtype, are
    deterministic, carry gradients, and pass gradcheck (float64, ``gradcheck_shape`` —
    default one image of ``in_shape``)."""
    assert isinstance(encoder, Encoder), f"{type(encoder).__name__} is not a restorekit.Encoder"
    encoder.eval()
    _seed(seed)
    x = torch.rand(in_shape)
    feats = encoder(x)
    assert isinstance(feats, Features), f"encoder returned {type(feats).__name__}, expected Features"
    declared_c = getattr(encoder, "out_channels", None)
    declared_s = getattr(encoder, "out_strides", None)
    if declared_c is not None:
        assert list(feats.channels) == list(declared_c), f"Features.channels {feats.channels} ≠ declared out_channels {declared_c}"
    if declared_s is not None:
        assert list(feats.strides) == list(declared_s), f"Features.strides {feats.strides} ≠ declared out_strides {declared_s}"
    for m, c, s in zip(feats.maps, feats.channels, feats.strides):
        expect = (in_shape[0], c, in_shape[2] // s, in_shape[3] // s)
        assert tuple(m.shape) == expect, f"feature map has shape {tuple(m.shape)}, expected {expect} (channels {c}, stride {s})"
        assert m.dtype == x.dtype, f"feature map dtype {m.dtype} ≠ input dtype {x.dtype}"
        _assert_finite(m, "a feature map")
    undeclared = set(feats.provided()) - set(encoder.provides)
    assert not undeclared, f"encoder returns {sorted(undeclared)} but does not declare them in provides"
    again = encoder(x)
    for a, b in zip(feats.maps, again.maps):
        assert torch.equal(a, b), "encoder is not deterministic in eval mode"
    _matrix(encoder, lambda m, dt, dev: m(x.to(dev, dt)).maps, "encoder")
    encoder.train()
    out = encoder(x)
    _grad_reaches(encoder, sum(m.mean() for m in out.maps), "encoder")
    if exemption(encoder, gradcheck) is None:
        gx = torch.rand(gradcheck_shape or (1, *in_shape[1:]), generator=torch.Generator().manual_seed(seed + 5))
        gradcheck_module(encoder, lambda m, a: m(a[0]), [gx], f"encoder {type(encoder).__name__}")
    return feats


def _estimate_with(requires: frozenset[str], shape: tuple[int, ...], gen: torch.Generator) -> BlurEstimate:
    est = BlurEstimate()
    b, _, h, w = shape
    for req in requires:
        alt = req.split("|")[0].strip()
        if alt == "map":
            est.map = torch.rand(b, 1, h, w, generator=gen)
        elif alt == "kernel":
            k = torch.rand(b, 1, 5, 5, generator=gen)
            est.kernel = k / k.sum(dim=(-2, -1), keepdim=True)
    return est


def check_blur_estimator(
    estimator: BlurEstimator,
    image: Tensor,
    features: Features | None = None,
    estimate: BlurEstimate | None = None,
    batch: Mapping[str, Any] | None = None,
    seed: int = 0,
    gradcheck: bool | str = True,
) -> BlurEstimate:
    """Returns a BlurEstimate providing everything declared, in the documented shapes, on every
    device × dtype; gradcheck (float64) of the estimate w.r.t. the image and parameters."""
    assert isinstance(estimator, BlurEstimator), f"{type(estimator).__name__} is not a restorekit.BlurEstimator"
    gen = torch.Generator().manual_seed(seed)
    estimate = estimate if estimate is not None else _estimate_with(estimator.requires, tuple(image.shape), gen)
    batch = dict(batch or {"blurry": image})
    if "features" in estimator.requires:
        assert features is not None, "the estimator requires features: pass features=…"
    out = estimator(image, features, estimate, batch)
    assert isinstance(out, BlurEstimate), f"estimator returned {type(out).__name__}, expected BlurEstimate"
    missing = set(estimator.provides) - out.provided()
    assert not missing, f"estimator declares provides {sorted(missing)} but did not return them"
    b = image.shape[0]
    if out.map is not None:
        assert out.map.dim() == 4 and out.map.shape[0] == b and out.map.shape[1] == 1, f"map must be (B,1,h,w), got {tuple(out.map.shape)}"
        assert float(out.map.detach().min()) >= -1e-6 and float(out.map.detach().max()) <= 1 + 1e-6, "map must lie in [0, 1]"
    if out.kernel is not None:
        k = out.kernel
        assert k.dim() == 4 and k.shape[0] in (1, b), f"kernel must be (B,1|C,h,w), got {tuple(k.shape)}"
        assert float(k.detach().min()) >= 0, "kernel has negative entries"
        assert torch.allclose(k.sum(dim=(-2, -1)), torch.ones((), dtype=k.dtype), atol=1e-5), "kernel does not sum to 1"
    if out.coefficients is not None:
        for i, c in enumerate(out.coefficients):
            assert c.dim() == 4 and c.shape[0] == b, f"coefficients[{i}] must be (B,G,h,w), got {tuple(c.shape)}"
            _assert_finite(c, f"coefficients[{i}]")
    was = estimator.training
    estimator.eval()
    _matrix(
        estimator,
        lambda m, dt, dev: _estimate_tensors(m(image.to(dev, dt), to_dtype(features, dt, dev), to_dtype(estimate, dt, dev), to_dtype(batch, dt, dev))),
        "blur estimator",
    )
    if exemption(estimator, gradcheck) is None:
        gradcheck_module(
            estimator,
            lambda m, a: _estimate_tensors(m(a[0], to_dtype(features, torch.float64), to_dtype(estimate, torch.float64), {**to_dtype(batch, torch.float64), "blurry": a[0]})),
            [image],
            f"blur estimator {type(estimator).__name__}",
        )
    estimator.train(was)
    return out


def _estimate_tensors(est: BlurEstimate) -> list[Tensor]:
    out = [t for t in (est.map, est.kernel) if t is not None]
    out += list(est.coefficients or [])
    out += [v for v in est.extras.values() if isinstance(v, Tensor) and v.is_floating_point()]
    return out


def check_decoder(
    decoder: Decoder,
    image: Tensor,
    features: Features | None = None,
    estimate: BlurEstimate | None = None,
    operator: Operator | None = None,
    seed: int = 0,
    gradcheck: bool | str = True,
) -> DecoderOutput:
    """Restored image has the input's shape and dtype (on every device × dtype), is finite and
    deterministic, gradients reach the parameters and pass gradcheck (float64, w.r.t. the
    image and the parameters); inputs hold only what the decoder declares it requires."""
    assert isinstance(decoder, Decoder), f"{type(decoder).__name__} is not a restorekit.Decoder"
    gen = torch.Generator().manual_seed(seed)
    if estimate is None:
        estimate = _estimate_with(decoder.requires, tuple(image.shape), gen)
    needs = {a.strip() for r in decoder.requires for a in r.split("|")}
    if "operator" not in needs:
        operator = None
    if "features" not in needs:
        features = None
    decoder.eval()
    with torch.no_grad():
        out = decoder(image, features, estimate, operator)
        again = decoder(image, features, estimate, operator)
    assert isinstance(out, DecoderOutput), f"decoder returned {type(out).__name__}, expected DecoderOutput"
    assert out.restored.shape == image.shape, f"restored has shape {tuple(out.restored.shape)}, input {tuple(image.shape)}"
    assert out.restored.dtype == image.dtype, f"restored dtype {out.restored.dtype} ≠ input dtype {image.dtype}"
    _assert_finite(out.restored, "restored image")
    assert torch.equal(out.restored, again.restored), "decoder is not deterministic in eval mode"
    decoder.eval()
    _matrix(
        decoder,
        lambda m, dt, dev: [m(image.to(dev, dt), to_dtype(features, dt, dev), to_dtype(estimate, dt, dev), _op_to(operator, dt, dev)).restored],
        "decoder",
        check_dtype=True,
    )
    decoder.train()
    out = decoder(image, features, estimate, operator)
    _grad_reaches(decoder, out.restored.square().mean(), "decoder")
    if exemption(decoder, gradcheck) is None:
        op64 = _op_to(operator, torch.float64, torch.device("cpu"))
        f64, e64 = to_dtype(features, torch.float64), to_dtype(estimate, torch.float64)
        gradcheck_module(
            decoder,
            lambda m, a: m(a[0], f64, e64, op64).restored,
            [image],
            f"decoder {type(decoder).__name__}",
        )
    return out


def _op_to(operator: Operator | None, dtype: torch.dtype, device: torch.device) -> Operator | None:
    import copy

    if operator is None:
        return None
    return copy.deepcopy(operator).to(device=device, dtype=dtype)


def _matrix(module: nn.Module, run: Callable[[nn.Module, torch.dtype, torch.device], list[Tensor]], what: str, check_dtype: bool = True) -> None:
    """Smoke test on every (device, dtype) of :func:`restorekit.testing.gradients.dtype_matrix`."""
    import copy

    for device, dtype in dtype_matrix():
        m = copy.deepcopy(module).to(device=device, dtype=dtype)
        with torch.no_grad():
            outs = run(m, dtype, device)
        for t in outs:
            _assert_finite(t, f"{what} output on {device} {dtype}")
            if check_dtype and t.is_floating_point():
                assert t.dtype == dtype, f"{what} returned {t.dtype} for {dtype} inputs on {device}"
            assert t.device.type == device.type, f"{what} returned a tensor on {t.device} for inputs on {device}"


def check_loss(
    loss: Loss,
    make_output: Callable[[Tensor], PipelineOutput] | None = None,
    shape: tuple[int, ...] = (2, 3, 16, 16),
    seed: int = 0,
    zero_at_target: bool = True,
    gradcheck: bool | str = True,
) -> None:
    """Scalar, finite, differentiable in ``restored``; ~0 when restored equals sharp
    (``zero_at_target``); a clear error when a batch key it declares is missing; gradcheck
    (float64) with respect to the restored image."""
    assert isinstance(loss, Loss), f"{type(loss).__name__} is not a restorekit.Loss"
    gen = torch.Generator().manual_seed(seed)
    sharp = torch.rand(shape, generator=gen)
    restored = torch.rand(shape, generator=gen).requires_grad_(True)

    def default_output(r: Tensor) -> PipelineOutput:
        return PipelineOutput(restored=r, decoder=DecoderOutput(restored=r, intermediates=[r]), estimate=BlurEstimate())

    make = make_output or default_output
    batch = {"blurry": torch.rand(shape, generator=gen), "sharp": sharp}
    value = loss(make(restored), batch)
    assert isinstance(value, Tensor) and value.dim() == 0, f"loss must return a scalar tensor, got shape {getattr(value, 'shape', None)}"
    _assert_finite(value, "loss value")
    (g,) = torch.autograd.grad(value, restored)
    assert g is not None and torch.any(g != 0), "loss has no gradient with respect to the restored image"
    if zero_at_target:
        at = loss(make(sharp.clone()), batch)
        assert float(at.abs()) < 1e-5, f"loss at restored == sharp is {float(at):.3e}, expected ~0"
    if exemption(loss, gradcheck) is None:
        import copy

        l64 = copy.deepcopy(loss).double()
        b64 = to_dtype(batch, torch.float64)
        run_gradcheck(lambda r: l64(make(r), b64), [restored.detach().double().requires_grad_(True)], f"loss {type(loss).__name__}")
    for key in loss.batch_requires:
        partial = {k: v for k, v in batch.items() if k != key}
        try:
            loss.check_batch(partial)
        except KeyError as exc:
            assert key in str(exc), f"missing-key error should name '{key}': {exc}"
        else:
            raise AssertionError(f"check_batch accepted a batch without declared key '{key}'")

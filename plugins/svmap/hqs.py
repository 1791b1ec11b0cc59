"""``svmap.hqs``: Krishnan & Fergus 2009, fast hyper-Laplacian deconvolution by HQS, over
any linear operator.

Port of the authors' ``fast_deconv.m`` (SVMAP spec §3). Per image it solves

    min_x (λ/2)‖A x − y‖² + Σ_p |(∇_h x)_p|^α + |(∇_v x)_p|^α

by half-quadratic splitting, ``(λ/2)‖Ax − y‖² + (β/2)‖∇x − w‖² + |w|^α``, alternating

* **w-step** (element-wise, :func:`.shrinkage.hyper_laplacian_shrink`):
  ``w = argmin |w|^α + (β/2)(w − ∇x)²``, exact for α ∈ {1, 1/2, 2/3};
* **x-step**, the quadratic ``(AᵀA + γ ∇ᵀ∇) x = Aᵀy + γ ∇ᵀw``, ``γ = β/λ``:

  - **FFT** when the operator is diagonalised by the FFT (circular convolution exposes its
    transfer function ``K̂``, :meth:`restorekit.Operator.transfer_function`):
    ``x = F⁻¹[(conj(K̂)Ŷ + γ F(D_hᵀw_h + D_vᵀw_v)) / (|K̂|² + γ(|D̂_h|² + |D̂_v|²))]``,
    ``D_h``, ``D_v`` forward differences with wrap-around (the paper's solver);
  - **CG** for any other linear operator (``valid``/padded convolution, ``nrknet.rkr``,
    per-pixel filters): preconditioned CG warm-started from the current ``x``, with
    non-wrapping differences on the operator's domain (:mod:`.physics`),

with the continuation β = 1, 2√2, 8, …, < 2⁸ (6 outer iterations, 1 inner each) and
``x`` initialised with ``y``. Without an operator in the pipeline the default is the
paper's: circular convolution with the estimate's kernel on ``y`` replicate-padded by the
kernel radius and edge-tapered (3 passes of MATLAB ``edgetaper``; the number is our
choice), cropped back to ``H × W`` afterwards. ``padding: none`` solves on ``y`` as is
(right for observations that really are circularly blurred, DPIR's ``set3c_levin``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, InputError, Operator
from restorekit.functional import psf2otf

from .cg import CirculantPreconditioner, conjugate_gradient
from .gaussian_init import gradient_otf_energy
from .physics import DTYPES, SolverPhysics, bind_physics, checked_kernel, crop, edgetaper, free_boundary_padding, replicate_pad
from .shrinkage import beta_schedule, hyper_laplacian_shrink

__all__ = ["HQS", "HQSNormalOperator", "hqs_cg", "hqs_deconv", "hqs_fft"]


def _grad_h(x: Tensor) -> Tensor:
    """Forward horizontal difference with wrap: ``x[:, j+1] − x[:, j]``."""
    return torch.roll(x, shifts=-1, dims=-1) - x


def _grad_v(x: Tensor) -> Tensor:
    """Forward vertical difference with wrap: ``x[i+1, :] − x[i, :]``."""
    return torch.roll(x, shifts=-1, dims=-2) - x


def _grad_h_adjoint(w: Tensor) -> Tensor:
    """``D_hᵀ w``: backward difference with wrap, ``w[:, j−1] − w[:, j]``."""
    return torch.roll(w, shifts=1, dims=-1) - w


def _grad_v_adjoint(w: Tensor) -> Tensor:
    """``D_vᵀ w``: ``w[i−1, :] − w[i, :]``."""
    return torch.roll(w, shifts=1, dims=-2) - w


def _diff_h(x: Tensor) -> Tensor:
    """Forward horizontal difference without wrap, ``(…, H, W) → (…, H, W − 1)``."""
    return x[..., :, 1:] - x[..., :, :-1]


def _diff_v(x: Tensor) -> Tensor:
    return x[..., 1:, :] - x[..., :-1, :]


def _diff_h_adjoint(w: Tensor) -> Tensor:
    """Adjoint of :func:`_diff_h`, ``(…, H, W − 1) → (…, H, W)``."""
    z = w.new_zeros((*w.shape[:-1], 1))
    return torch.cat([z, w], dim=-1) - torch.cat([w, z], dim=-1)


def _diff_v_adjoint(w: Tensor) -> Tensor:
    z = w.new_zeros((*w.shape[:-2], 1, w.shape[-1]))
    return torch.cat([z, w], dim=-2) - torch.cat([w, z], dim=-2)


def _forward_differences(x: Tensor, gh: Tensor, gv: Tensor) -> None:
    """``gh ← D_h x``, ``gv ← D_v x`` (forward differences with wrap) into buffers."""
    torch.sub(x[..., :, 1:], x[..., :, :-1], out=gh[..., :, :-1])
    torch.sub(x[..., :, :1], x[..., :, -1:], out=gh[..., :, -1:])
    torch.sub(x[..., 1:, :], x[..., :-1, :], out=gv[..., :-1, :])
    torch.sub(x[..., :1, :], x[..., -1:, :], out=gv[..., -1:, :])


def _divergence(wh: Tensor, wv: Tensor, out: Tensor) -> Tensor:
    """``out ← D_hᵀ wh + D_vᵀ wv`` (backward differences with wrap)."""
    torch.sub(wh[..., :, :-1], wh[..., :, 1:], out=out[..., :, 1:])
    torch.sub(wh[..., :, -1:], wh[..., :, :1], out=out[..., :, :1])
    out[..., 1:, :] += wv[..., :-1, :]
    out[..., 1:, :] -= wv[..., 1:, :]
    out[..., :1, :] += wv[..., -1:, :]
    out[..., :1, :] -= wv[..., :1, :]
    return out


def hqs_fft(
    y: Tensor,
    otf: Tensor,
    lam: float = 2e3,
    alpha: float = 0.5,
    betas: list[float] | None = None,
    inner_iterations: int = 1,
    x0: Tensor | None = None,
) -> Tensor:
    """KF09 HQS with FFT x-steps for a circulant operator with DFT diagonal ``otf``
    ``(…, H, W // 2 + 1)`` on ``y`` ``(B, C, H, W)`` (no padding, no crop).

    Per x-step: one ``rfft2``, one ``irfft2`` and a few element-wise passes (differences
    into preallocated buffers, the exact w-step, the spectral update in place). When
    autograd must track ``y``, ``otf`` or ``x0`` the same steps run out of place
    (:func:`_hqs_fft_autograd`), so the solver can be trained through."""
    size = (int(y.shape[-2]), int(y.shape[-1]))
    x = y if x0 is None else x0
    betas = betas if betas is not None else beta_schedule()
    if torch.is_grad_enabled() and any(t.requires_grad for t in (y, otf, x)):
        return _hqs_fft_autograd(y, otf, lam, alpha, betas, inner_iterations, x, size)
    numer_data = otf.conj() * torch.fft.rfft2(y)
    denom_data = otf.real**2 + otf.imag**2
    denom_grad = gradient_otf_energy(size, y.dtype, y.device)
    gh, gv, div = torch.empty_like(y), torch.empty_like(y), torch.empty_like(y)
    for beta in betas:
        gamma = beta / lam
        inv = (denom_data + gamma * denom_grad).reciprocal_()
        for _ in range(inner_iterations):
            _forward_differences(x, gh, gv)
            wh = hyper_laplacian_shrink(gh, beta, alpha)
            wv = hyper_laplacian_shrink(gv, beta, alpha)
            rhs = torch.fft.rfft2(_divergence(wh, wv, div))
            rhs.mul_(gamma).add_(numer_data).mul_(inv)
            x = torch.fft.irfft2(rhs, s=size)
    return x


def _hqs_fft_autograd(y: Tensor, otf: Tensor, lam: float, alpha: float, betas: list[float],
                      inner_iterations: int, x: Tensor, size: tuple[int, int]) -> Tensor:
    """:func:`hqs_fft` with out-of-place operations only, so autograd can differentiate it
    w.r.t. ``y``, the transfer function (the kernel) and ``x⁰``: the same arithmetic, the
    w-step differentiated exactly almost everywhere (:func:`.shrinkage.shrink_derivative`)."""
    numer_data = otf.conj() * torch.fft.rfft2(y)
    denom_data = otf.real**2 + otf.imag**2
    denom_grad = gradient_otf_energy(size, y.dtype, y.device)
    for beta in betas:
        gamma = beta / lam
        inv = 1.0 / (denom_data + gamma * denom_grad)
        for _ in range(inner_iterations):
            wh = hyper_laplacian_shrink(_grad_h(x), beta, alpha)
            wv = hyper_laplacian_shrink(_grad_v(x), beta, alpha)
            div = _grad_h_adjoint(wh) + _grad_v_adjoint(wv)
            x = torch.fft.irfft2((gamma * torch.fft.rfft2(div) + numer_data) * inv, s=size)
    return x


def hqs_deconv(
    y: Tensor,
    kernel: Tensor,
    lam: float = 2e3,
    alpha: float = 0.5,
    betas: list[float] | None = None,
    inner_iterations: int = 1,
    x0: Tensor | None = None,
) -> Tensor:
    """Circular KF09 HQS on the whole of ``y`` ``(B, C, H, W)`` with a kernel
    ``(B|1, 1|C, h, w)`` (:func:`hqs_fft` with ``psf2otf(kernel)``)."""
    otf = psf2otf(kernel.to(y.dtype), (int(y.shape[-2]), int(y.shape[-1])))
    return hqs_fft(y, otf, lam, alpha, betas, inner_iterations, x0)


class HQSNormalOperator:
    """The CG x-step's matrix ``AᵀA + γ (D_hᵀD_h + D_vᵀD_v)`` on the operator's domain,
    with its circulant preconditioner ``|K̂|² + γ(|D̂_h|² + |D̂_v|²)``.

    Args:
        physics: the bound operator.
        gamma: β/λ.
        circular: wrap-around differences (default: exactly when the operator is
            FFT-diagonalisable, so that the problem equals the FFT solver's).
    """

    def __init__(self, physics: SolverPhysics, gamma: float, circular: bool | None = None) -> None:
        self.physics, self.gamma = physics, float(gamma)
        self.circular = physics.diagonalisable if circular is None else bool(circular)
        D = (_grad_h, _grad_v, _grad_h_adjoint, _grad_v_adjoint) if self.circular else (
            _diff_h, _diff_v, _diff_h_adjoint, _diff_v_adjoint)
        self.dh, self.dv, self.dht, self.dvt = D

    def __call__(self, u: Tensor) -> Tensor:
        return self.physics.AtA(u) + self.gamma * (self.dht(self.dh(u)) + self.dvt(self.dv(u)))

    def preconditioner(self) -> CirculantPreconditioner:
        phys = self.physics

        def symbol(size: tuple[int, int]) -> Tensor:
            grad = gradient_otf_energy(size, phys.dtype, phys.device)
            return (phys.otf(size).abs() ** 2 + self.gamma * grad).clamp_min(torch.finfo(phys.dtype).tiny)

        return CirculantPreconditioner(symbol, phys.domain_size, circular=phys.diagonalisable)


def hqs_cg(
    physics: SolverPhysics,
    y: Tensor,
    lam: float = 2e3,
    alpha: float = 0.5,
    betas: list[float] | None = None,
    inner_iterations: int = 1,
    cg_iterations: int = 30,
    rtol: float = 1e-3,
    circular: bool | None = None,
) -> Tensor:
    """KF09 HQS with CG x-steps over any operator: ``y`` ``(B, C, H, W)`` → ``x`` on the
    operator's domain (see :class:`HQSNormalOperator`); ``x⁰`` is ``y`` replicate-padded to
    the domain and every x-step is warm-started from the current ``x``."""
    yd = physics.data(y)
    b = physics.At(yd)
    x = physics.pad(yd)
    for beta in betas if betas is not None else beta_schedule():
        normal = HQSNormalOperator(physics, beta / lam, circular)
        pre = normal.preconditioner()
        for _ in range(inner_iterations):
            wh = hyper_laplacian_shrink(normal.dh(x), beta, alpha)
            wv = hyper_laplacian_shrink(normal.dv(x), beta, alpha)
            rhs = b + normal.gamma * (normal.dht(wh) + normal.dvt(wv))
            x = conjugate_gradient(normal, rhs, x0=x, iterations=cg_iterations, preconditioner=pre,
                                   dims=physics.cg_dims, rtol=rtol).x
    return x


class HQS(Decoder):
    """Krishnan–Fergus 2009 hyper-Laplacian deconvolution (HQS), no learning.

    Input ``image`` ``(B, C, H, W)`` and either ``estimate.kernel`` ``(B|1, 1|C, h, w)``
    (the default operator) or a pipeline ``operator`` bound to the estimate; output
    ``restored`` ``(B, C, H, W)``; ``extras["x_step"]`` says which x-step ran.

    Choices:
        - continuation β = 1·(2√2)^k < 2⁸, one inner iteration, x⁰ = y, λ 2e3, α 1/2 (KF09, fast_deconv.m)
        - x-step by FFT when the operator exposes a transfer function (circular convolution, as DeepInverse's decomposable BlurFFT), else by preconditioned CG over A / A_adjoint, warm-started, cg_iterations 30, rtol 1e-3, non-wrapping differences on the operator's domain (x_step auto; our choice)
        - without an operator: circular convolution with the estimate's kernel on y replicate-padded by the kernel radius and edge-tapered (KF09's experiments; 3 edgetaper passes is our choice)
        - w-step exact in real arithmetic: trigonometric Cardano for α 1/2, monotone Newton for the quartic of α 2/3 (our choice; KF09's CPU code uses a look-up table)
        - float32 arithmetic (our choice: within 0.01 dB of float64 on Set3C × Levin, docs/svmap.md)
        - trainable through: in-place buffers only when no gradient is needed, else the same steps out of place with the w-step's exact a.e. derivative β/(β + α(α−1)|w|^(α−2)) (our choice; docs/svmap.md)

    Args:
        lam: data weight λ (2e3 in the paper's experiments).
        alpha: prior exponent α; 1/2 and 2/3 (also given as 0.5, 0.6667) and 1 use exact
            w-steps, other values 4 Newton steps.
        beta0: first β; beta_rate: β growth factor (2√2); beta_max: stop once β ≥ this (2⁸).
        inner_iterations: alternations per β value.
        padding: FFT x-step only: ``replicate`` pads ``y`` by the kernel radius before the
            circular solve and crops after; ``edgetaper`` also edge-tapers the padded image
            (``edgetaper_iterations`` passes; the default); ``none`` solves circularly on
            ``y`` as is (right for circularly blurred data). Needs ``estimate.kernel``
            (skipped when the estimate has none).
        edgetaper_iterations: passes of :func:`.physics.edgetaper` for ``padding: edgetaper``.
        precision: arithmetic of the solve; the output has the input's dtype.
        clamp: clip the output to [0, 1].
        x_step: ``auto`` (FFT when the operator is FFT-diagonalisable, else CG), ``fft``
            (error if it is not) or ``cg``.
        cg_iterations: maximum CG steps per x-step (CG x-step).
        cg_rtol: relative-residual stop of those CG solves (0: always ``cg_iterations``).
    """

    provides = frozenset({"restored"})
    requires = frozenset({"kernel|operator"})
    gradcheck_exempt = (
        "the w-step jumps at its shrinkage threshold (finite differences straddle it) and the solve runs in "
        "its own precision (float32 by default); it is differentiable almost everywhere, checked by gradcheck "
        "in float64 in tests/svmap/test_classical.py"
    )

    def __init__(
        self,
        lam: float = 2e3,
        alpha: float = 0.5,
        beta0: float = 1.0,
        beta_rate: float = 2.0 * math.sqrt(2.0),
        beta_max: float = 256.0,
        inner_iterations: int = 1,
        padding: Literal["edgetaper", "replicate", "none"] = "edgetaper",
        edgetaper_iterations: int = 3,
        precision: Literal["float32", "float64"] = "float32",
        clamp: bool = False,
        x_step: Literal["auto", "fft", "cg"] = "auto",
        cg_iterations: int = 30,
        cg_rtol: float = 1e-3,
    ) -> None:
        super().__init__()
        if lam <= 0 or beta0 <= 0 or beta_rate <= 1 or beta_max <= beta0:
            raise InputError(
                f"svmap.hqs: need lam > 0, beta0 > 0, beta_rate > 1 and beta_max > beta0; got "
                f"lam={lam}, beta0={beta0}, beta_rate={beta_rate}, beta_max={beta_max}"
            )
        if not 0 < alpha <= 1:
            raise InputError(f"svmap.hqs: alpha must be in (0, 1], got {alpha}")
        if x_step not in ("auto", "fft", "cg"):
            raise InputError(f"svmap.hqs: x_step must be 'auto', 'fft' or 'cg', got {x_step!r}")
        if padding not in ("edgetaper", "replicate", "none"):
            raise InputError(f"svmap.hqs: padding must be 'edgetaper', 'replicate' or 'none', got {padding!r}")
        if precision not in DTYPES:
            raise InputError(f"svmap.hqs: precision must be one of {sorted(DTYPES)}, got {precision!r}")
        if cg_iterations < 1 or cg_rtol < 0:
            raise InputError(f"svmap.hqs: need cg_iterations >= 1 and cg_rtol >= 0, got {cg_iterations}, {cg_rtol}")
        if abs(alpha - 2.0 / 3.0) < 1e-3:
            alpha = 2.0 / 3.0  # YAML users write 0.6667 for 2/3
        self.lam, self.alpha = float(lam), float(alpha)
        self.betas = beta_schedule(beta0, beta_rate, beta_max)
        self.inner_iterations = int(inner_iterations)
        self.padding = padding
        self.edgetaper_iterations = int(edgetaper_iterations)
        self.precision = precision
        self.clamp = clamp
        self.x_step = x_step
        self.cg_iterations, self.cg_rtol = int(cg_iterations), float(cg_rtol)

    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate,
        operator: Operator | None,
    ) -> DecoderOutput:
        dtype = DTYPES[self.precision]
        if operator is None:
            checked_kernel(estimate, image, "svmap.hqs")
        physics = bind_physics(operator, estimate, image, dtype, "svmap.hqs", default_boundary="circular")
        fft = physics.diagonalisable
        if self.x_step == "fft" and not fft:
            raise InputError(
                f"svmap.hqs: x_step fft needs an operator the FFT diagonalises (a circular convolution); "
                f"{type(physics.bound.operator).__name__} has no transfer function here. Use x_step: auto or cg"
            )
        y = image.to(dtype)
        if fft and self.x_step != "cg":
            x = self._fft(y, physics, estimate)
            step = "fft"
        else:
            x = physics.crop(hqs_cg(physics, y, self.lam, self.alpha, self.betas, self.inner_iterations,
                                    self.cg_iterations, self.cg_rtol))
            step = "cg"
        x = x.to(image.dtype)
        return DecoderOutput(restored=x.clamp(0.0, 1.0) if self.clamp else x, extras={"x_step": step})

    def _fft(self, y: Tensor, physics: SolverPhysics, estimate: BlurEstimate) -> Tensor:
        kernel = estimate.kernel
        margins = (0, 0, 0, 0)
        otf = None
        if self.padding != "none" and kernel is not None:
            margins = free_boundary_padding((kernel.shape[-2], kernel.shape[-1]))
            H, W = y.shape[-2:]
            otf = physics.transfer_function((H + margins[0] + margins[1], W + margins[2] + margins[3]))
        if otf is None:  # no kernel to pad by, or an operator defined on the image size only
            margins = (0, 0, 0, 0)
            otf = physics.transfer_function()
        yp = replicate_pad(physics.data(y), margins)
        if self.padding == "edgetaper" and kernel is not None:
            yp = edgetaper(yp, kernel.to(device=y.device, dtype=y.dtype), self.edgetaper_iterations)
        x = hqs_fft(yp, otf.to(torch.complex128 if y.dtype == torch.float64 else torch.complex64),
                    self.lam, self.alpha, self.betas, self.inner_iterations)
        return crop(x, margins)

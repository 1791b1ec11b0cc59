"""``svmap.hqs``: Krishnan & Fergus 2009, fast hyper-Laplacian deconvolution by HQS.

Port of the authors' ``fast_deconv.m`` (SVMAP spec §3). Per colour channel it solves

    min_x (λ/2)‖k ∗ x − y‖² + Σ_p |(∇_h x)_p|^α + |(∇_v x)_p|^α

by half-quadratic splitting, ``(λ/2)‖Kx − y‖² + (β/2)‖∇x − w‖² + |w|^α``, alternating

* **w-step** (element-wise, :func:`.shrinkage.hyper_laplacian_shrink`):
  ``w = argmin |w|^α + (β/2)(w − ∇x)²``, closed form for α ∈ {1, 1/2, 2/3};
* **x-step** (FFT, circular):
  ``x = F⁻¹[(conj(K̂)Ŷ + γ F(D_hᵀw_h + D_vᵀw_v)) / (|K̂|² + γ(|D̂_h|² + |D̂_v|²))]``,
  ``γ = β/λ``; ``D_h``, ``D_v`` are forward differences with wrap-around,

with the continuation β = 1, 2√2, 8, …, < 2⁸ (6 outer iterations, 1 inner each) and
``x`` initialised with ``y``. As in the authors' experiments, ``y`` is replicate-padded
by the kernel radius (free-boundary margins, :mod:`.fourier`) and, by default,
edge-tapered (3 passes of MATLAB ``edgetaper``; the number of passes is our choice)
before the circular solve; the result is cropped back to ``H × W``. Use
``padding: none`` for observations that really are circularly blurred (the DPIR
``set3c_levin`` protocol).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, InputError, Operator
from restorekit.functional import psf2otf

from .fourier import crop, edgetaper, free_boundary_padding, replicate_pad
from .gaussian_init import gradient_otf_energy
from .levin_irls import _checked_kernel
from .shrinkage import beta_schedule, hyper_laplacian_shrink

__all__ = ["HQS", "hqs_deconv"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


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


def hqs_deconv(
    y: Tensor,
    kernel: Tensor,
    lam: float = 2e3,
    alpha: float = 0.5,
    betas: list[float] | None = None,
    inner_iterations: int = 1,
    x0: Tensor | None = None,
) -> Tensor:
    """Circular KF09 HQS on the whole of ``y`` ``(B, C, H, W)`` (no padding, no crop).

    Args:
        y: observation; kernel: ``(B|1, 1|C, h, w)``; lam: λ; alpha: the exponent α.
        betas: continuation sequence (default :func:`.shrinkage.beta_schedule`).
        inner_iterations: alternations per β (1 in the paper).
        x0: initial ``x`` (default ``y``).

    Returns:
        ``x`` of the shape of ``y``.
    """
    size = (int(y.shape[-2]), int(y.shape[-1]))
    otf = psf2otf(kernel.to(y.dtype), size)
    numer_data = otf.conj() * torch.fft.rfft2(y)
    denom_data = otf.abs() ** 2
    denom_grad = gradient_otf_energy(size, y.dtype, y.device)
    x = y if x0 is None else x0
    for beta in betas if betas is not None else beta_schedule():
        gamma = beta / lam
        denom = denom_data + gamma * denom_grad
        for _ in range(inner_iterations):
            wh = hyper_laplacian_shrink(_grad_h(x), beta, alpha)
            wv = hyper_laplacian_shrink(_grad_v(x), beta, alpha)
            rhs = numer_data + gamma * torch.fft.rfft2(_grad_h_adjoint(wh) + _grad_v_adjoint(wv))
            x = torch.fft.irfft2(rhs / denom, s=size)
    return x


class HQS(Decoder):
    """Krishnan–Fergus 2009 hyper-Laplacian deconvolution (HQS, FFT x-step), no learning.

    Input ``image`` ``(B, C, H, W)`` and ``estimate.kernel`` ``(B|1, 1|C, h, w)``; output
    ``restored`` ``(B, C, H, W)``.

    Args:
        lam: data weight λ (2e3 in the paper's experiments).
        alpha: prior exponent α; 1/2 and 2/3 (also given as 0.5, 0.6667) and 1 use closed-form
            w-steps, other values 4 Newton steps.
        beta0: first β; beta_rate: β growth factor (2√2); beta_max: stop once β ≥ this (2⁸).
        inner_iterations: alternations per β value.
        padding: ``replicate`` pads ``y`` by the kernel radius before the circular solve and
            crops after; ``edgetaper`` also edge-tapers the padded image
            (``edgetaper_iterations`` passes; the default); ``none`` solves circularly on
            ``y`` as is (right for circularly blurred data).
        edgetaper_iterations: passes of :func:`.fourier.edgetaper` for ``padding: edgetaper``.
        precision: arithmetic of the solve; the output has the input's dtype.
        clamp: clip the output to [0, 1].
    """

    provides = frozenset({"restored"})
    requires = frozenset({"kernel"})

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
        precision: Literal["float32", "float64"] = "float64",
        clamp: bool = False,
    ) -> None:
        super().__init__()
        if lam <= 0 or beta0 <= 0 or beta_rate <= 1 or beta_max <= beta0:
            raise InputError(
                f"svmap.hqs: need lam > 0, beta0 > 0, beta_rate > 1 and beta_max > beta0; got "
                f"lam={lam}, beta0={beta0}, beta_rate={beta_rate}, beta_max={beta_max}"
            )
        if not 0 < alpha <= 1:
            raise InputError(f"svmap.hqs: alpha must be in (0, 1], got {alpha}")
        if abs(alpha - 2.0 / 3.0) < 1e-3:
            alpha = 2.0 / 3.0  # YAML users write 0.6667 for 2/3
        self.lam, self.alpha = float(lam), float(alpha)
        self.betas = beta_schedule(beta0, beta_rate, beta_max)
        self.inner_iterations = int(inner_iterations)
        self.padding = padding
        self.edgetaper_iterations = int(edgetaper_iterations)
        self.precision = precision
        self.clamp = clamp

    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate,
        operator: Operator | None,
    ) -> DecoderOutput:
        kernel = _checked_kernel(estimate, image, "svmap.hqs")
        dtype = _DTYPES[self.precision]
        y = image.to(dtype)
        kernel = kernel.to(dtype)
        margins = free_boundary_padding((kernel.shape[-2], kernel.shape[-1])) if self.padding != "none" else (0, 0, 0, 0)
        y = replicate_pad(y, margins)
        if self.padding == "edgetaper":
            y = edgetaper(y, kernel, self.edgetaper_iterations)
        x = hqs_deconv(y, kernel, self.lam, self.alpha, self.betas, self.inner_iterations)
        x = crop(x, margins).to(image.dtype)
        return DecoderOutput(restored=x.clamp(0.0, 1.0) if self.clamp else x)

"""``svmap.levin_irls``: Levin et al. 2007 sparse-prior deconvolution by IRLS + CG.

Port of the authors' MATLAB ``deconvSps.m`` / ``deconvL2_w.m`` (SVMAP spec §2). Per colour
channel it minimises, on the enlarged (free-boundary) domain,

    E(x) = ‖M ⊙ (K x) − y‖² + λ Σ_{g∈{dx,dy}} ρ(g ∗ x) + 0.25 λ Σ_{g∈{dxx,dyy,dxy}} ρ(g ∗ x),
    ρ(z) = |z|^0.8,

with dx = [1, −1], dy = [1; −1], dxx = [−1, 2, −1], dyy = dxxᵀ, dxy = [[−1, 1], [1, −1]],
all applied as ``valid`` convolutions. ``M ⊙ K`` is realised as the ``valid`` convolution
from the enlarged domain ``(H+h−1) × (W+w−1)`` onto the observed ``H × W`` pixels (the
mask of Levin's code is 1 exactly there); the output is cropped to ``H × W``.

IRLS: a weighted-L2 problem is solved by CG with the normal equations

    (KᵀK + λ Σ_g Gᵀ diag(w_g) G) x = Kᵀ y,

first with all five weights 1 (second-order ones too, as in the code), then twice with
``w_g = s_g · w0 · max(|g ∗ x|, ε)^(α−2)`` (s_g = 1 for first-order, 0.25 for
second-order filters; α = 0.8, w0 = 0.1, ε = 0.01). Every CG solve restarts from ``y``
replicate-padded to the enlarged domain and runs exactly ``max_it`` iterations.

Kernel convention: the toolkit's kernel means ``y = k ∗ x`` (true convolution). Levin's
code applies ``k`` as a correlation, so this component uses the flipped kernel in Levin's
correlation form — which *is* the true convolution with ``k``; users never flip.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, InputError, Operator

from .cg import conjugate_gradient
from .fourier import CircularConvolution, ValidConvolution, crop, replicate_pad

__all__ = ["LevinIRLS", "LevinNormalOperator", "derivative_filters", "irls_weights"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def derivative_filters(dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> list[tuple[str, Tensor, float]]:
    """The five derivative filters ``(name, filter (1, 1, fh, fw), order-scale)`` of Levin 2007.

    The scale is 1 for ``dx``/``dy`` and 0.25 for ``dxx``/``dyy``/``dxy``.
    """
    t = lambda rows: torch.tensor(rows, dtype=dtype, device=device)[None, None]  # noqa: E731
    return [
        ("dx", t([[1.0, -1.0]]), 1.0),
        ("dy", t([[1.0], [-1.0]]), 1.0),
        ("dxx", t([[-1.0, 2.0, -1.0]]), 0.25),
        ("dyy", t([[-1.0], [2.0], [-1.0]]), 0.25),
        ("dxy", t([[-1.0, 1.0], [1.0, -1.0]]), 0.25),
    ]


def _valid_conv(x: Tensor, g: Tensor) -> Tensor:
    """True ``valid`` convolution of every channel of ``x`` ``(B, C, H, W)`` with ``g`` (1,1,fh,fw)."""
    B, C, H, W = x.shape
    out = F.conv2d(x.reshape(B * C, 1, H, W), g.flip(-2, -1))
    return out.reshape(B, C, out.shape[-2], out.shape[-1])


def _valid_conv_adjoint(r: Tensor, g: Tensor) -> Tensor:
    """Adjoint of :func:`_valid_conv` (the ``full`` correlation), back to ``(B, C, H, W)``."""
    B, C, h, w = r.shape
    out = F.conv_transpose2d(r.reshape(B * C, 1, h, w), g.flip(-2, -1))
    return out.reshape(B, C, out.shape[-2], out.shape[-1])


def _circular_conv(x: Tensor, g: Tensor) -> Tensor:
    """Circular convolution ``Σ_{a,b} g[a,b] · x(p − (a, b))`` of ``x`` with a tiny filter."""
    out = torch.zeros_like(x)
    for a in range(g.shape[-2]):
        for b in range(g.shape[-1]):
            out = out + g[0, 0, a, b] * torch.roll(x, shifts=(a, b), dims=(-2, -1))
    return out


def _circular_conv_adjoint(r: Tensor, g: Tensor) -> Tensor:
    """Adjoint of :func:`_circular_conv`: ``Σ_{a,b} g[a,b] · r(p + (a, b))``."""
    out = torch.zeros_like(r)
    for a in range(g.shape[-2]):
        for b in range(g.shape[-1]):
            out = out + g[0, 0, a, b] * torch.roll(r, shifts=(-a, -b), dims=(-2, -1))
    return out


def irls_weights(response: Tensor, scale: float, alpha: float = 0.8, w0: float = 0.1, eps: float = 0.01) -> Tensor:
    """IRLS weights of ρ(z) = |z|^α: ``scale · w0 · max(|z|, ε)^(α−2)`` (``deconvSps.m``).

    At ``|z| ≤ ε`` with the defaults: 25.12 (scale 1) and 6.28 (scale 0.25).
    """
    return scale * w0 * response.abs().clamp_min(eps).pow(alpha - 2.0)


class LevinNormalOperator:
    """``A x = KᵀK x + λ Σ_g Gᵀ (w_g ⊙ G x)`` on the enlarged domain (symmetric PSD).

    Args:
        K: the free-boundary (or circular) convolution.
        lam: λ (Levin's ``we``).
        filters: ``derivative_filters()``.
        weights: one weight per filter: a scalar or a map of the shape of ``g ∗ x``.
        circular: apply the derivative filters circularly (for :class:`CircularConvolution`)
            instead of as ``valid`` convolutions.
    """

    def __init__(
        self,
        K: ValidConvolution | CircularConvolution,
        lam: float,
        filters: list[tuple[str, Tensor, float]],
        weights: list[Tensor | float],
        circular: bool = False,
    ) -> None:
        if len(weights) != len(filters):
            raise ValueError("one weight (map or scalar) per derivative filter")
        self.K, self.lam, self.filters, self.weights = K, lam, filters, weights
        self.G = _circular_conv if circular else _valid_conv
        self.Gt = _circular_conv_adjoint if circular else _valid_conv_adjoint

    def __call__(self, x: Tensor) -> Tensor:
        out = self.K.adjoint(self.K(x))
        for (_, g, _), w in zip(self.filters, self.weights):
            out = out + self.lam * self.Gt(w * self.G(x, g), g)
        return out


class LevinIRLS(Decoder):
    """Levin et al. 2007 hyper-Laplacian (|·|^0.8) non-blind deconvolution, no learning.

    Input ``image`` ``(B, C, H, W)`` in [0, 1] and ``estimate.kernel`` ``(B|1, 1|C, h, w)``
    (true-convolution PSF); output ``restored`` ``(B, C, H, W)``. ``extras["iterates"]``
    holds the cropped estimate after the initial L2 solve and after each IRLS iteration.

    Args:
        lam: regularisation weight λ (Levin's ``we``); 0.001 in the demo, 0.0068 in the
            Levin 2009 evaluation, 0.004 for noisier inputs.
        max_it: CG iterations per solve (exactly this many, no tolerance stop).
        irls_iterations: reweighting iterations after the initial L2 solve (2 in the code).
        alpha: exponent of the sparse prior ρ(z) = |z|^α.
        w0: weight scale ``w0`` of the IRLS weights.
        eps: ε of the IRLS weights ``max(|z|, ε)^(α−2)``.
        precision: arithmetic of the solve (the MATLAB code is double); the output has the
            input's dtype.
        clamp: clip the output to [0, 1] (off by default: the method does not clip).
        boundary: ``free`` (Levin's free boundary with the mask, the default) or
            ``circular`` (periodic ``K`` and derivative filters on ``H × W``, our addition
            for circularly blurred benchmarks such as DPIR's ``set3c_levin``).
    """

    provides = frozenset({"restored"})
    requires = frozenset({"kernel"})

    def __init__(
        self,
        lam: float = 1e-3,
        max_it: int = 200,
        irls_iterations: int = 2,
        alpha: float = 0.8,
        w0: float = 0.1,
        eps: float = 0.01,
        precision: Literal["float32", "float64"] = "float64",
        clamp: bool = False,
        boundary: Literal["free", "circular"] = "free",
    ) -> None:
        super().__init__()
        if lam <= 0:
            raise InputError(f"svmap.levin_irls: lam must be > 0, got {lam}")
        if max_it < 1 or irls_iterations < 0:
            raise InputError(f"svmap.levin_irls: need max_it >= 1 and irls_iterations >= 0, got {max_it}, {irls_iterations}")
        self.lam, self.max_it, self.irls_iterations = float(lam), int(max_it), int(irls_iterations)
        self.alpha, self.w0, self.eps = float(alpha), float(w0), float(eps)
        self.precision = precision
        self.clamp = clamp
        self.boundary = boundary

    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate,
        operator: Operator | None,
    ) -> DecoderOutput:
        kernel = _checked_kernel(estimate, image, "svmap.levin_irls")
        enlarged, margins = self.solve(image, kernel)
        iterates = [self._finish(crop(x, margins), image.dtype) for x in enlarged]
        return DecoderOutput(restored=iterates[-1], extras={"iterates": iterates})

    def solve(self, y: Tensor, kernel: Tensor) -> tuple[list[Tensor], tuple[int, int, int, int]]:
        """Run the algorithm on ``y`` ``(B, C, H, W)``.

        Returns:
            the solutions on the enlarged domain ``(B, C, H+h−1, W+w−1)`` after the initial
            L2 solve and after every IRLS iteration (in the solve precision), and the
            ``(top, bottom, left, right)`` margins that crop them back to ``H × W``.
        """
        dtype = _DTYPES[self.precision]
        y64 = y.to(dtype)
        circular = self.boundary == "circular"
        Kcls = CircularConvolution if circular else ValidConvolution
        K = Kcls(kernel.to(dtype), (y.shape[-2], y.shape[-1]))
        G = _circular_conv if circular else _valid_conv
        filters = derivative_filters(dtype, y.device)
        y_pad = replicate_pad(y64, K.margins)
        b = K.adjoint(y64)
        weights: list[Tensor | float] = [1.0] * len(filters)
        solutions: list[Tensor] = []
        x = y_pad
        for t in range(self.irls_iterations + 1):
            if t > 0:
                weights = [
                    irls_weights(G(x, g), scale, self.alpha, self.w0, self.eps) for _, g, scale in filters
                ]
            A = LevinNormalOperator(K, self.lam, filters, weights, circular=circular)
            x = conjugate_gradient(A, b, x0=y_pad, iterations=self.max_it).x
            solutions.append(x)
        return solutions, K.margins

    def _finish(self, x: Tensor, dtype: torch.dtype) -> Tensor:
        x = x.to(dtype)
        return x.clamp(0.0, 1.0) if self.clamp else x


def _checked_kernel(estimate: BlurEstimate, image: Tensor, who: str) -> Tensor:
    """The estimate's kernel as ``(B|1, 1|C, h, w)`` on the image's device, with checks."""
    kernel = estimate.kernel
    if kernel is None:
        raise InputError(
            f"{who} needs a blur kernel: use `blur_estimator: {{type: standard.given_kernel}}` and put "
            f"'kernel' in the batch (or pass --kernel PSF.png to `restorekit deblur`)"
        )
    if image.dim() != 4:
        raise InputError(f"{who}: image must be (B, C, H, W), got {tuple(image.shape)}")
    if kernel.dim() != 4 or kernel.shape[0] not in (1, image.shape[0]) or kernel.shape[1] not in (1, image.shape[1]):
        raise InputError(
            f"{who}: kernel must be (B|1, 1|C, h, w) for an image {tuple(image.shape)}, got {tuple(kernel.shape)}"
        )
    if kernel.shape[-2] > image.shape[-2] or kernel.shape[-1] > image.shape[-1]:
        raise InputError(
            f"{who}: kernel {tuple(kernel.shape[-2:])} is larger than the image {tuple(image.shape[-2:])}; "
            f"use a larger image or a smaller kernel"
        )
    return kernel.to(image.device)

"""``svmap.levin_irls``: Levin et al. 2007 sparse-prior deconvolution by IRLS + CG, over
any linear operator.

Port of the authors' MATLAB ``deconvSps.m`` / ``deconvL2_w.m`` (SVMAP spec §2). Per image
it minimises, on the operator's domain (:mod:`.physics`),

    E(x) = ‖A x − y‖² + λ Σ_{g∈{dx,dy}} ρ(g ∗ x) + 0.25 λ Σ_{g∈{dxx,dyy,dxy}} ρ(g ∗ x),
    ρ(z) = |z|^0.8,

with dx = [1, −1], dy = [1; −1], dxx = [−1, 2, −1], dyy = dxxᵀ, dxy = [[−1, 1], [1, −1]].
``A`` is the pipeline's operator bound to the blur estimate. Without an operator it is
``standard.convolution`` with the estimate's kernel and ``boundary: valid``: the unknown
lives on the enlarged domain ``(H+h−1) × (W+w−1)`` and ``A`` maps it onto the observed
``H × W`` pixels — Levin's free boundary, whose mask is 1 exactly there; the output is
cropped to ``H × W``. The derivative filters are ``valid`` convolutions on the domain, or
circular when the operator is a circular convolution (then the whole system is circulant).

IRLS: a weighted-L2 problem is solved by CG with the normal equations

    (AᵀA + λ Σ_g Gᵀ diag(w_g) G) x = Aᵀ y,

first with all five weights 1 (second-order ones too, as in the code), then twice with
``w_g = s_g · w0 · max(|g ∗ x|, ε)^(α−2)`` (s_g = 1 for first-order, 0.25 for
second-order filters; α = 0.8, w0 = 0.1, ε = 0.01).

Kernel convention: the toolkit's kernel means ``y = k ∗ x`` (true convolution). Levin's
code applies ``k`` as a correlation; the default operator is the true convolution with
``k``, which is Levin's correlation form with the flipped kernel — users never flip.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, InputError, Operator
from restorekit.functional import conv2d, conv2d_adjoint, psf2otf

from .cg import CirculantPreconditioner, conjugate_gradient
from .physics import DTYPES, SolverPhysics, bind_physics

__all__ = ["MIN_SIZE", "LevinIRLS", "LevinNormalOperator", "derivative_filters", "irls_weights"]

MIN_SIZE = 3
"""Smallest image side ``svmap.levin_irls`` accepts (the 3-tap second-derivative filters)."""


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


def irls_weights(response: Tensor, scale: float, alpha: float = 0.8, w0: float = 0.1, eps: float = 0.01) -> Tensor:
    """IRLS weights of ρ(z) = |z|^α: ``scale · w0 · max(|z|, ε)^(α−2)`` (``deconvSps.m``).

    At ``|z| ≤ ε`` with the defaults: 25.12 (scale 1) and 6.28 (scale 0.25).
    """
    return scale * w0 * response.abs().clamp_min(eps).pow(alpha - 2.0)


class LevinNormalOperator:
    """``N x = AᵀA x + λ Σ_g Gᵀ (w_g ⊙ G x)`` on the operator's domain (symmetric PSD).

    Args:
        physics: the bound operator (:class:`.physics.SolverPhysics`).
        lam: λ (Levin's ``we``).
        filters: ``derivative_filters()``.
        weights: one weight per filter: a scalar or a map of the shape of ``g ∗ x``.
        circular: apply the derivative filters circularly instead of as ``valid``
            convolutions (default: circular exactly when the operator is FFT-diagonalisable).
    """

    def __init__(
        self,
        physics: SolverPhysics,
        lam: float,
        filters: list[tuple[str, Tensor, float]],
        weights: list[Tensor | float],
        circular: bool | None = None,
    ) -> None:
        if len(weights) != len(filters):
            raise ValueError("one weight (map or scalar) per derivative filter")
        self.physics, self.lam, self.filters, self.weights = physics, lam, filters, weights
        self.circular = physics.diagonalisable if circular is None else bool(circular)
        self.boundary = "circular" if self.circular else "valid"

    def G(self, x: Tensor, g: Tensor) -> Tensor:
        """The response ``g ∗ x`` (``valid`` or circular)."""
        return conv2d(x, g, boundary=self.boundary, method="spatial")

    def Gt(self, r: Tensor, g: Tensor) -> Tensor:
        return conv2d_adjoint(r, g, boundary=self.boundary, method="spatial")

    def __call__(self, x: Tensor) -> Tensor:
        out = self.physics.AtA(x)
        for (_, g, _), w in zip(self.filters, self.weights):
            out = out + self.lam * self.Gt(w * self.G(x, g), g)
        return out

    def preconditioner(self) -> CirculantPreconditioner:
        """``M⁻¹`` with the DFT symbol ``|K̂|² + λ Σ_g w̄_g |Ĝ_g|²`` (w̄_g: the mean weight of
        each image and channel), ``K̂`` the operator's diagonal (:meth:`.physics.SolverPhysics.otf`)."""
        phys = self.physics
        means = [w.mean(dim=(-2, -1), keepdim=True) if isinstance(w, Tensor) else w for w in self.weights]

        def symbol(size: tuple[int, int]) -> Tensor:
            s = phys.otf(size).abs() ** 2
            for (_, g, _), w in zip(self.filters, means):
                s = s + self.lam * w * psf2otf(g.to(phys.dtype), size).abs() ** 2
            return s.clamp_min(torch.finfo(phys.dtype).tiny)

        return CirculantPreconditioner(symbol, phys.domain_size, circular=phys.diagonalisable)


class LevinIRLS(Decoder):
    """Levin et al. 2007 hyper-Laplacian (|·|^0.8) non-blind deconvolution, no learning.

    Input ``image`` ``(B, C, H, W)`` in [0, 1] and either ``estimate.kernel``
    ``(B|1, 1|C, h, w)`` (true-convolution PSF; the default operator) or a pipeline
    ``operator`` bound to the estimate (``standard.convolution``, ``nrknet.rkr`` with
    ``coefficients``, ``standard.spatially_variant_filter`` with ``filters`` …); output
    ``restored`` ``(B, C, H, W)``. ``extras["iterates"]`` holds the cropped estimate after
    the initial L2 solve and after each IRLS iteration, ``extras["cg_iterations"]`` the CG
    steps each solve took.

    Choices:
        - energy, filters, weights (w0 0.1, ε 0.01, α 0.8), 2 reweighting iterations after an L2 solve with all five weights 1 (Levin et al. 2007, deconvSps.m)
        - solved over the pipeline's operator (A / A_adjoint, bound to the estimate); without one, standard.convolution with the estimate's kernel, boundary valid (free boundary, boundary free) or circular (boundary circular) (our choice; DESIGN.md)
        - derivative filters valid on the operator's domain, circular when the operator is FFT-diagonalisable (our choice)
        - CG preconditioned by the circulant symbol |K̂|² + λ Σ w̄_g |Ĝ_g|² (preconditioner circulant, our choice; the code runs plain CG: preconditioner none)
        - CG stops at a 1e-5 relative residual ‖r‖ ≤ rtol·‖b‖, at most max_it = 200 steps (our choice; the code runs exactly 200 plain steps: rtol 0, preconditioner none)
        - the reweighted solves start from the previous IRLS solution (warm_start true, our choice; deconvL2_w.m restarts every solve from y replicate-padded, warm_start false; the first solve starts there)
        - float32 arithmetic (our choice: as accurate as float64 here, docs/svmap.md; the code is double)

    Args:
        lam: regularisation weight λ (Levin's ``we``); 0.001 in the demo, 0.0068 in the
            Levin 2009 evaluation, 0.004 for noisier inputs.
        max_it: maximum CG iterations per solve (exactly this many when ``rtol`` is 0).
        irls_iterations: reweighting iterations after the initial L2 solve (2 in the code).
        alpha: exponent of the sparse prior ρ(z) = |z|^α.
        w0: weight scale ``w0`` of the IRLS weights.
        eps: ε of the IRLS weights ``max(|z|, ε)^(α−2)``.
        precision: arithmetic of the solve; the output has the input's dtype.
        clamp: clip the output to [0, 1] (off by default: the method does not clip).
        boundary: the default operator when the pipeline has none: ``free`` (Levin's free
            boundary: ``standard.convolution`` with ``boundary: valid``) or ``circular``
            (periodic, for circularly blurred benchmarks such as DPIR's ``set3c_levin``).
            A pipeline operator decides for itself (its own ``boundary``).
        preconditioner: ``circulant`` (FFT, see :class:`LevinNormalOperator`) or ``none``.
        rtol: per-system relative-residual stop of CG (0: run ``max_it`` steps).
        warm_start: start each reweighted CG solve from the previous IRLS solution
            (``false``: from ``y`` replicate-padded, as Levin's code).
    """

    provides = frozenset({"restored"})
    requires = frozenset({"kernel|operator"})
    gradcheck_exempt = (
        "a classical solver, not trained: it computes in its own precision (float32 by default), the IRLS "
        "weights max(|z|, eps)^(alpha-2) are piecewise and CG stops at a tolerance"
    )

    def __init__(
        self,
        lam: float = 1e-3,
        max_it: int = 200,
        irls_iterations: int = 2,
        alpha: float = 0.8,
        w0: float = 0.1,
        eps: float = 0.01,
        precision: Literal["float32", "float64"] = "float32",
        clamp: bool = False,
        boundary: Literal["free", "circular"] = "free",
        preconditioner: Literal["circulant", "none"] = "circulant",
        rtol: float = 1e-5,
        warm_start: bool = True,
    ) -> None:
        super().__init__()
        if lam <= 0:
            raise InputError(f"svmap.levin_irls: lam must be > 0, got {lam}")
        if max_it < 1 or irls_iterations < 0:
            raise InputError(f"svmap.levin_irls: need max_it >= 1 and irls_iterations >= 0, got {max_it}, {irls_iterations}")
        if boundary not in ("free", "circular"):
            raise InputError(f"svmap.levin_irls: boundary must be 'free' or 'circular', got {boundary!r}")
        if preconditioner not in ("circulant", "none"):
            raise InputError(f"svmap.levin_irls: preconditioner must be 'circulant' or 'none', got {preconditioner!r}")
        if precision not in DTYPES:
            raise InputError(f"svmap.levin_irls: precision must be one of {sorted(DTYPES)}, got {precision!r}")
        if rtol < 0:
            raise InputError(f"svmap.levin_irls: rtol must be >= 0, got {rtol}")
        self.lam, self.max_it, self.irls_iterations = float(lam), int(max_it), int(irls_iterations)
        self.alpha, self.w0, self.eps = float(alpha), float(w0), float(eps)
        self.precision = precision
        self.clamp = clamp
        self.boundary = boundary
        self.preconditioner = preconditioner
        self.rtol = float(rtol)
        self.warm_start = bool(warm_start)

    def bind(self, image: Tensor, estimate: BlurEstimate, operator: Operator | None) -> SolverPhysics:
        """The solver's view of ``operator`` (or the default convolution) for ``image``."""
        return bind_physics(
            operator, estimate, image, DTYPES[self.precision], "svmap.levin_irls",
            default_boundary="valid" if self.boundary == "free" else "circular",
        )

    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate,
        operator: Operator | None,
    ) -> DecoderOutput:
        if image.dim() == 4 and min(int(image.shape[-2]), int(image.shape[-1])) < MIN_SIZE:
            raise InputError(
                f"svmap.levin_irls: the image is {int(image.shape[-2])}×{int(image.shape[-1])} pixels; it needs at "
                f"least {MIN_SIZE}×{MIN_SIZE} (min(H, W) >= {MIN_SIZE}: the second-derivative filters dxx, dyy are "
                f"3 taps long). Use a larger image"
            )
        physics = self.bind(image, estimate, operator)
        solutions, counts = self.solve(image, physics)
        iterates = [self._finish(physics.crop(x), image.dtype) for x in solutions]
        return DecoderOutput(restored=iterates[-1], extras={"iterates": iterates, "cg_iterations": counts})

    def solve(self, y: Tensor, physics: SolverPhysics) -> tuple[list[Tensor], list[int]]:
        """Run the algorithm on ``y`` ``(B, C, H, W)``.

        Returns:
            the solutions on the domain ``physics.domain_shape`` after the initial L2 solve
            and after every IRLS iteration (in the solve precision), and the number of CG
            steps of each solve.
        """
        yd = physics.data(y.to(physics.dtype))
        filters = derivative_filters(physics.dtype, y.device)
        y_pad = physics.pad(yd)
        b = physics.At(yd)
        weights: list[Tensor | float] = [1.0] * len(filters)
        solutions: list[Tensor] = []
        counts: list[int] = []
        x = y_pad
        for t in range(self.irls_iterations + 1):
            normal = LevinNormalOperator(physics, self.lam, filters, weights)
            if t > 0:
                weights = [irls_weights(normal.G(x, g), scale, self.alpha, self.w0, self.eps) for _, g, scale in filters]
                normal = LevinNormalOperator(physics, self.lam, filters, weights)
            pre = normal.preconditioner() if self.preconditioner == "circulant" else None
            start = x if (self.warm_start and t > 0) else y_pad
            res = conjugate_gradient(normal, b, x0=start, iterations=self.max_it, preconditioner=pre,
                                     dims=physics.cg_dims, rtol=self.rtol)
            x = res.x
            solutions.append(x)
            counts.append(res.iterations)
        return solutions, counts

    def _finish(self, x: Tensor, dtype: torch.dtype) -> Tensor:
        x = x.to(dtype)
        return x.clamp(0.0, 1.0) if self.clamp else x

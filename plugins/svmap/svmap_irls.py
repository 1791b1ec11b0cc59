"""``svmap.irls``: the SVMAP decoder (Dong, Roth, Schiele, CVPR 2021), learned
spatially-variant MAP deblurring solved by IRLS with a CG inner solver.

One IRLS iteration t (specs/svmap.md §1.1–1.3) solves the quadratic problem

    x^{t+1} = argmin_x Σ_{i=1..M} ‖F_i^t (y − Kx)‖² + Σ_{j=1..N} ‖G_j^t x‖² + ε‖x‖²

through its normal equations

    (Σ_i Kᵀ F_iᵀ F_i K + Σ_j G_jᵀ G_j + εI) x = Σ_i Kᵀ F_iᵀ F_i y,

by 30 plain CG steps warm-started from x^t (our choice, §1.3), unrolled so that gradients
flow through them. ``F_i^t`` (``s_f × s_f``) and ``G_j^t`` (``s_g × s_g``) are per-pixel
filters (:class:`.filters_net.FilterBank`) predicted by the Table 5 networks: the data
net sees the residual ``r^t = y − K x^t`` and the regulariser net sees ``x^t``
(§1.5, our choice). Regulariser filters are made zero-mean per pixel; data filters are
unconstrained, parametrised as ``δ + net output`` (our choice: an untrained model starts
from the plain L2 data term). A fresh pair of nets is used per iteration unless
``share_across_iterations`` (SVMAP_share).

Our choices where the sources are silent (§1.5): T = 2, s_f = 11, s_g = 7, colour
channels processed independently by the same nets (c_in = 1), free boundary (``x`` on the
enlarged domain, ``K`` the ``valid`` convolution, output cropped), x⁰ the Gaussian-prior
FFT deconvolution (λ₀ = 2e-3) of ``y`` replicate-padded, ε = 1e-6.

Shapes: ``image`` ``(B, C, H, W)``, ``estimate.kernel`` ``(B|1, 1|C, h, w)`` →
``restored`` ``(B, C, H, W)``; ``intermediates`` = ``[x^T, …, x^1]`` cropped (last first)
for deep supervision.
"""

from __future__ import annotations

import abc
from typing import Callable

from torch import Tensor, nn

from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, InputError, Operator

from .cg import conjugate_gradient
from .filters_net import FilterBank, PredictionNet, delta_taps, table5_parameters, zero_mean_taps
from .fourier import ValidConvolution, crop
from .gaussian_init import gaussian_prior_deconv
from .levin_irls import _checked_kernel

__all__ = ["SVMAP", "PAPER_PARAMETERS", "svmap_parameters"]

PAPER_PARAMETERS = {"svmap": 1_290_000, "simap": 1_920_000}
"""Parameter counts reported in the SVMAP supplement (1.29 M and 1.92 M)."""


def svmap_parameters(iterations: int = 2, data_filters: int = 3, data_filter_size: int = 11,
                     reg_filters: int = 5, reg_filter_size: int = 7, share: bool = False) -> int:
    """``P_SV = T · [P(1, s_f² M) + P(1, s_g² N)]`` (spec §1.4; T → 1 when shared)."""
    per = table5_parameters(1, data_filter_size**2 * data_filters) + table5_parameters(1, reg_filter_size**2 * reg_filters)
    return (1 if share else iterations) * per


class _PerChannelIRLS(Decoder):
    """Shared machinery of SVMAP and SIMAP: channel folding, free boundary, Gaussian
    initialisation, the unrolled CG solve. Subclasses build one iteration's system."""

    requires = frozenset({"kernel"})
    provides = frozenset({"restored", "intermediates"})

    def __init__(self, iterations: int, cg_iterations: int, epsilon: float, init_lambda: float,
                 share_across_iterations: bool) -> None:
        super().__init__()
        if not 1 <= iterations <= 10:
            raise InputError(f"iterations must be in 1..10 (the paper uses 1–3), got {iterations}")
        if cg_iterations < 1:
            raise InputError(f"cg_iterations must be >= 1, got {cg_iterations}")
        self.iterations, self.cg_iterations = int(iterations), int(cg_iterations)
        self.epsilon, self.init_lambda = float(epsilon), float(init_lambda)
        self.share = bool(share_across_iterations)

    def _build_filter_nets(self, data_filters: int, data_filter_size: int, reg_filters: int,
                           reg_filter_size: int, width: int, layers: int) -> None:
        """Check the filter-bank options and build ``data_nets`` / ``reg_nets``: one
        Table-5 prediction net per iteration (one in all with ``share_across_iterations``)
        giving M·s_f² data-filter and N·s_g² regulariser-filter taps from a 1-channel input."""
        for name, s in (("data_filter_size", data_filter_size), ("reg_filter_size", reg_filter_size)):
            if s < 1 or s % 2 == 0:
                raise InputError(f"{self._who}: {name} must be odd and >= 1, got {s}")
        if data_filters < 1 or reg_filters < 1:
            raise InputError(f"{self._who}: need data_filters >= 1 and reg_filters >= 1, got {data_filters}, {reg_filters}")
        self.M, self.s_f, self.N, self.s_g = int(data_filters), int(data_filter_size), int(reg_filters), int(reg_filter_size)
        n_nets = 1 if self.share else self.iterations
        self.data_nets = nn.ModuleList(PredictionNet(1, self.M * self.s_f**2, width, layers) for _ in range(n_nets))
        self.reg_nets = nn.ModuleList(PredictionNet(1, self.N * self.s_g**2, width, layers) for _ in range(n_nets))

    def stage(self, t: int) -> int:
        """Index of the nets used at iteration ``t``."""
        return 0 if self.share else t

    @abc.abstractmethod
    def system(self, t: int, x: Tensor, y: Tensor, K: ValidConvolution) -> tuple[Callable[[Tensor], Tensor], Tensor]:
        """``(apply_A, b)`` of iteration ``t`` for ``x``/``y`` of shape ``(B·C, 1, ·, ·)``."""

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate,
                operator: Operator | None) -> DecoderOutput:
        kernel = _checked_kernel(estimate, image, self._who)
        B, C, H, W = image.shape
        kh, kw = kernel.shape[-2:]
        y = image.reshape(B * C, 1, H, W)
        k = kernel.to(image.dtype).expand(B, C, kh, kw).reshape(B * C, 1, kh, kw)
        K = ValidConvolution(k, (H, W))
        x = gaussian_prior_deconv(y, k, lam=self.init_lambda, pad=True)
        outs: list[Tensor] = []
        for t in range(self.iterations):
            apply_A, b = self.system(t, x, y, K)
            x = conjugate_gradient(apply_A, b, x0=x, iterations=self.cg_iterations).x
            outs.append(crop(x, K.margins).reshape(B, C, H, W))
        return DecoderOutput(restored=outs[-1], intermediates=outs[::-1])

    _who = "svmap"


class SVMAP(_PerChannelIRLS):
    """SVMAP: per-pixel data filters (M of size s_f) and regulariser filters (N of size
    s_g) predicted per IRLS iteration; see the module docstring.

    Args:
        iterations: IRLS iterations T (2 by default; the paper reports 1–3).
        data_filters: M. data_filter_size: s_f (odd).
        reg_filters: N. reg_filter_size: s_g (odd).
        width: features of the Table 5 nets (64 in the paper; smaller for tests).
        layers: Conv+ReLU layers before the output conv (5 in the paper).
        share_across_iterations: one pair of nets for every iteration (SVMAP_share).
        cg_iterations: CG steps per IRLS iteration (30, warm-started, no early stop).
        epsilon: ε of the εI term.
        init_lambda: λ₀ of the Gaussian-prior initialisation.
    """

    _who = "svmap.irls"

    def __init__(
        self,
        iterations: int = 2,
        data_filters: int = 3,
        data_filter_size: int = 11,
        reg_filters: int = 5,
        reg_filter_size: int = 7,
        width: int = 64,
        layers: int = 5,
        share_across_iterations: bool = False,
        cg_iterations: int = 30,
        epsilon: float = 1e-6,
        init_lambda: float = 2e-3,
    ) -> None:
        super().__init__(iterations, cg_iterations, epsilon, init_lambda, share_across_iterations)
        self._build_filter_nets(data_filters, data_filter_size, reg_filters, reg_filter_size, width, layers)
        for net in (*self.data_nets, *self.reg_nets):  # start from small filter corrections
            nn.init.normal_(net[-1].weight, std=1e-3)
            nn.init.zeros_(net[-1].bias)

    def filters(self, t: int, x: Tensor, y: Tensor, K: ValidConvolution) -> tuple[FilterBank, FilterBank]:
        """The data and regulariser filter banks of iteration ``t``."""
        i = self.stage(t)
        residual = y - K(x)
        f = self.data_nets[i](residual) + delta_taps(self.M, self.s_f, y.dtype, y.device)
        g = zero_mean_taps(self.reg_nets[i](x), self.N)
        return FilterBank(f, self.M, residual.shape[-2:]), FilterBank(g, self.N, x.shape[-2:])

    def system(self, t: int, x: Tensor, y: Tensor, K: ValidConvolution) -> tuple[Callable[[Tensor], Tensor], Tensor]:
        Fb, Gb = self.filters(t, x, y, K)
        eps = self.epsilon

        def apply_A(u: Tensor) -> Tensor:
            return K.adjoint(Fb.normal(K(u))) + Gb.normal(u) + eps * u

        return apply_A, K.adjoint(Fb.normal(y))

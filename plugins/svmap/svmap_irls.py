"""``svmap.irls``: the SVMAP decoder (Dong, Roth, Schiele, CVPR 2021), learned
spatially-variant MAP deblurring solved by IRLS with a CG inner solver, over any linear
operator.

One IRLS iteration t (specs/svmap.md §1.1–1.3) solves the quadratic problem

    x^{t+1} = argmin_x Σ_{i=1..M} ‖F_i^t (y − Ax)‖² + Σ_{j=1..N} ‖G_j^t x‖² + ε‖x‖²

through its normal equations

    (Σ_i Aᵀ F_iᵀ F_i A + Σ_j G_jᵀ G_j + εI) x = Σ_i Aᵀ F_iᵀ F_i y,

by 30 plain CG steps warm-started from x^t (our choice, §1.3), unrolled so that gradients
flow through them. ``A`` is the pipeline's operator bound to the blur estimate (:mod:`.physics`);
without one, ``standard.convolution`` with the estimate's kernel and ``boundary: valid``
(the free boundary: ``x`` on the enlarged domain, output cropped). ``F_i^t`` (``s_f × s_f``)
and ``G_j^t`` (``s_g × s_g``) are per-pixel filters (:class:`.filters_net.FilterBank`)
predicted by the Table 5 networks: the data net sees the residual ``r^t = y − A x^t`` and
the regulariser net sees ``x^t`` (§1.5, our choice), optionally with a blur map as a second
input channel (``map_input``). Regulariser filters are made zero-mean per pixel; data
filters are unconstrained, parametrised as ``δ + net output`` (our choice: an untrained
model starts from the plain L2 data term). A fresh pair of nets is used per iteration
unless ``share_across_iterations`` (SVMAP_share).

Shapes: ``image`` ``(B, C, H, W)`` → ``restored`` ``(B, C, H, W)``; ``intermediates`` =
``[x^T, …, x^1]`` cropped (last first) for deep supervision. The nets see every colour
channel separately (c_in = 1); the operator sees all channels at once (it may mix them).
"""

from __future__ import annotations

import abc
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, InputError, Operator

from .cg import conjugate_gradient
from .filters_net import FilterBank, PredictionNet, table5_parameters
from .gaussian_init import gaussian_prior_init
from .physics import SolverPhysics, bind_physics

__all__ = ["SVMAP", "PAPER_PARAMETERS", "svmap_parameters"]

PAPER_PARAMETERS = {"svmap": 1_290_000, "simap": 1_920_000}
"""Parameter counts reported in the SVMAP supplement (1.29 M and 1.92 M)."""

MAP_INPUTS = ("none", "regulariser", "both")


def svmap_parameters(iterations: int = 2, data_filters: int = 3, data_filter_size: int = 11,
                     reg_filters: int = 5, reg_filter_size: int = 7, share: bool = False,
                     map_input: str = "none") -> int:
    """``P_SV = T · [P(c_d, s_f² M) + P(c_r, s_g² N)]`` (spec §1.4; T → 1 when shared;
    ``c = 2`` for the nets that also see the blur map)."""
    c_d = 2 if map_input == "both" else 1
    c_r = 2 if map_input in ("regulariser", "both") else 1
    per = table5_parameters(c_d, data_filter_size**2 * data_filters) + table5_parameters(c_r, reg_filter_size**2 * reg_filters)
    return (1 if share else iterations) * per


class _PerChannelIRLS(Decoder):
    """Shared machinery of SVMAP and SIMAP: the operator binding, Gaussian initialisation,
    filter nets (with their initialisation), blur-map inputs and the unrolled CG solve.
    Subclasses build one iteration's system."""

    provides = frozenset({"restored", "intermediates"})
    requires = frozenset({"kernel|operator"})

    def __init__(self, iterations: int, cg_iterations: int, epsilon: float, init_lambda: float,
                 share_across_iterations: bool, map_input: str = "none") -> None:
        super().__init__()
        if not 1 <= iterations <= 10:
            raise InputError(f"{self._who}: iterations must be in 1..10 (the paper uses 1–3), got {iterations}")
        if cg_iterations < 1:
            raise InputError(f"{self._who}: cg_iterations must be >= 1, got {cg_iterations}")
        if map_input not in MAP_INPUTS:
            raise InputError(f"{self._who}: map_input must be one of {', '.join(MAP_INPUTS)}, got {map_input!r}")
        self.iterations, self.cg_iterations = int(iterations), int(cg_iterations)
        self.epsilon, self.init_lambda = float(epsilon), float(init_lambda)
        self.share = bool(share_across_iterations)
        self.map_input = map_input
        if map_input != "none":
            self.requires = frozenset({"kernel|operator", "map"})

    def _build_filter_nets(self, data_filters: int, data_filter_size: int, reg_filters: int,
                           reg_filter_size: int, width: int, layers: int) -> None:
        """Check the filter-bank options and build ``data_nets`` / ``reg_nets``: one
        Table-5 prediction net per iteration (one in all with ``share_across_iterations``)
        giving M·s_f² data-filter and N·s_g² regulariser-filter taps from the 1-channel
        residual / image (2 channels with the blur map). The last convolution of every
        filter net starts from weights N(0, 1e-3²) and zero bias (our choice), so an
        untrained model predicts Dirac data filters and near-zero regulariser filters."""
        for name, s in (("data_filter_size", data_filter_size), ("reg_filter_size", reg_filter_size)):
            if s < 1 or s % 2 == 0:
                raise InputError(f"{self._who}: {name} must be odd and >= 1, got {s}")
        if data_filters < 1 or reg_filters < 1:
            raise InputError(f"{self._who}: need data_filters >= 1 and reg_filters >= 1, got {data_filters}, {reg_filters}")
        self.M, self.s_f, self.N, self.s_g = int(data_filters), int(data_filter_size), int(reg_filters), int(reg_filter_size)
        c_d = 2 if self.map_input == "both" else 1
        c_r = 2 if self.map_input in ("regulariser", "both") else 1
        n_nets = 1 if self.share else self.iterations
        self.data_nets = nn.ModuleList(PredictionNet(c_d, self.M * self.s_f**2, width, layers) for _ in range(n_nets))
        self.reg_nets = nn.ModuleList(PredictionNet(c_r, self.N * self.s_g**2, width, layers) for _ in range(n_nets))
        for net in (*self.data_nets, *self.reg_nets):
            last = net.output_conv
            nn.init.normal_(last.weight, std=1e-3)
            nn.init.zeros_(last.bias)

    def stage(self, t: int) -> int:
        """Index of the nets used at iteration ``t``."""
        return 0 if self.share else t

    @abc.abstractmethod
    def system(self, t: int, x: Tensor, y: Tensor, physics: SolverPhysics,
               maps: tuple[Tensor | None, Tensor | None]) -> tuple[Callable[[Tensor], Tensor], Tensor]:
        """``(apply_A, b)`` of iteration ``t`` for ``x`` ``(B, C, H_d, W_d)`` and ``y``
        ``(B, C, H, W)``; ``maps`` are the folded blur-map inputs of the data and
        regulariser nets (or ``None``)."""

    def _maps(self, estimate: BlurEstimate, physics: SolverPhysics) -> tuple[Tensor | None, Tensor | None]:
        """The blur map resized to the observation (data net) and replicate-padded to the
        domain (regulariser net), one copy per colour channel, ``(B·C, 1, ·, ·)``."""
        if self.map_input == "none":
            return None, None
        m = estimate.map
        if m is None:
            raise InputError(f"{self._who}: map_input {self.map_input!r} needs a blur map ('map') from the blur estimators")
        B, C, H, W = physics.obs_shape
        if m.dim() != 4 or m.shape[1] != 1 or m.shape[0] not in (1, B):
            raise InputError(f"{self._who}: the blur map must be (B, 1, h, w), got {tuple(m.shape)}")
        m = m.to(device=physics.device, dtype=physics.dtype)
        if tuple(m.shape[-2:]) != (H, W):
            m = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)
        m = m.expand(B, C, H, W)
        md = physics.pad(m)
        fold = lambda t: t.reshape(B * C, 1, t.shape[-2], t.shape[-1])  # noqa: E731
        return (fold(m) if self.map_input == "both" else None), fold(md)

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate,
                operator: Operator | None) -> DecoderOutput:
        dtype = image.dtype if image.dtype in (torch.float32, torch.float64) else torch.float32
        physics = bind_physics(operator, estimate, image, dtype, self._who, default_boundary="valid")
        y = physics.data(image.to(dtype))
        maps = self._maps(estimate, physics)
        x = gaussian_prior_init(physics, y, lam=self.init_lambda)
        outs: list[Tensor] = []
        for t in range(self.iterations):
            apply_A, b = self.system(t, x, y, physics, maps)
            x = conjugate_gradient(apply_A, b, x0=x, iterations=self.cg_iterations, dims=physics.cg_dims).x
            outs.append(physics.crop(x).to(image.dtype))
        return DecoderOutput(restored=outs[-1], intermediates=outs[::-1])

    _who = "svmap"


def _fold(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0] * t.shape[1], 1, t.shape[-2], t.shape[-1])


def _with_map(t: Tensor, m: Tensor | None) -> Tensor:
    return t if m is None else torch.cat([t, m], dim=1)


class SVMAP(_PerChannelIRLS):
    """SVMAP: per-pixel data filters (M of size s_f) and regulariser filters (N of size
    s_g) predicted per IRLS iteration; see the module docstring.

    Choices:
        - per-pixel data and regulariser filters absorbing the IRLS weights, one net pair per iteration, Table 5 nets (paper supplement B.1, B.2, Table 5)
        - T = 2, s_f = 11, s_g = 7, M = 3, N = 5: 1,295,040 parameters, paper 1.29 M (our choice, spec §1.5)
        - data net input r = y − A x, regulariser net input x, colour channels separately with shared nets (our choice, spec §1.5)
        - regulariser filters zero-mean per pixel; data filters δ + prediction (our choice)
        - last conv of every filter net initialised N(0, 1e-3²) with zero bias (our choice: starts from the plain L2 data term)
        - solved over the pipeline's operator (A / A_adjoint bound to the estimate); without one, standard.convolution with the estimate's kernel, boundary valid: free boundary on the enlarged domain, output cropped (our choice, spec §1.5)
        - x⁰: Gaussian-prior FFT deconvolution, λ₀ 2e-3, on y replicate-padded to the operator's domain, with the operator's DFT diagonal or its centre point-spread (supplement B.5; Levin's demo value)
        - CG: 30 plain steps per iteration, warm-started from x^t, unrolled for training, ε = 1e-6 (our choice, spec §1.3)
        - map_input (off by default): the blur map, resized to the image, as a second input channel of the regulariser nets (regulariser) or of both nets (both) (our option, for BME + SVMAP)

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
        map_input: ``none``, ``regulariser`` or ``both``: feed ``estimate.map`` (B, 1, h, w)
            in [0, 1], resized to the image, to those filter nets (then ``map`` is required).
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
        map_input: Literal["none", "regulariser", "both"] = "none",
    ) -> None:
        super().__init__(iterations, cg_iterations, epsilon, init_lambda, share_across_iterations, map_input)
        self._build_filter_nets(data_filters, data_filter_size, reg_filters, reg_filter_size, width, layers)

    def filters(self, t: int, x: Tensor, y: Tensor, physics: SolverPhysics,
                maps: tuple[Tensor | None, Tensor | None] = (None, None)) -> tuple[FilterBank, FilterBank]:
        """The data and regulariser filter banks of iteration ``t`` (on the folded
        ``(B·C, 1, ·, ·)`` residual and image)."""
        i = self.stage(t)
        residual = _fold(y - physics.A(x))
        xf = _fold(x)
        return (FilterBank.from_net(self.data_nets[i], _with_map(residual, maps[0]), self.M, delta=True),
                FilterBank.from_net(self.reg_nets[i], _with_map(xf, maps[1]), self.N, zero_mean=True))

    def system(self, t: int, x: Tensor, y: Tensor, physics: SolverPhysics,
               maps: tuple[Tensor | None, Tensor | None] = (None, None)) -> tuple[Callable[[Tensor], Tensor], Tensor]:
        Fb, Gb = self.filters(t, x, y, physics, maps)
        eps = self.epsilon
        obs, dom = y.shape, x.shape

        def apply_A(u: Tensor) -> Tensor:
            data = Fb.normal(_fold(physics.A(u))).reshape(obs)
            return physics.At(data) + Gb.normal(_fold(u)).reshape(dom) + eps * u

        return apply_A, physics.At(Fb.normal(_fold(y)).reshape(obs))

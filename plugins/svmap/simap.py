"""``svmap.simap``: the spatially-invariant MAP baseline of the SVMAP paper (supplement B.1).

Per IRLS iteration t the Table 5 filter nets (as in SVMAP) predict ``s_f²M`` and
``s_g²N`` maps that are **globally average-pooled** into spatially uniform filters
``f_i`` (``s_f × s_f``) and ``g_j`` (``s_g × s_g``); the pixel-dependent IRLS weights are
predicted by two extra nets (Tables 6, 7):

* ``ω^r`` = ReLU-output net (5 × CR64 + CR(3×3 → N)) on the responses ``g_j ∗ x^t``;
* ``ω^d`` = sigmoid-output net (5 × CR64 + CS(3×3 → M)) on the responses ``f_i ∗ r^t``,
  ``r^t = y − A x^t`` (our choice of weight-net inputs, spec §1.6).

Then ``min_x Σ_i ‖√ω_i^d ⊙ (f_i ∗ (y − Ax))‖² + Σ_j ‖√ω_j^r ⊙ (g_j ∗ x)‖² + ε‖x‖²`` is
solved by CG over the pipeline's operator exactly as in :mod:`.svmap_irls`. Filter
conventions as there: ``f = δ + pooled prediction`` and zero-mean ``g`` (our choices).
Parameters: ``P_SI = P_SV + T·[P(M, M) + P(N, N)]`` = 1,904,592 for the defaults (paper:
1.92 M).
"""

from __future__ import annotations

from typing import Callable, Literal

from torch import Tensor, nn

from .filters_net import FilterBank, PredictionNet, delta_taps, table5_parameters, zero_mean_taps
from .physics import SolverPhysics
from .svmap_irls import _fold, _PerChannelIRLS, _with_map, svmap_parameters

__all__ = ["SIMAP", "simap_parameters"]


def simap_parameters(iterations: int = 2, data_filters: int = 3, data_filter_size: int = 11,
                     reg_filters: int = 5, reg_filter_size: int = 7, share: bool = False,
                     map_input: str = "none") -> int:
    """``P_SI = P_SV + T·[P(M, M) + P(N, N)]`` (spec §1.6)."""
    extra = table5_parameters(data_filters, data_filters) + table5_parameters(reg_filters, reg_filters)
    return svmap_parameters(iterations, data_filters, data_filter_size, reg_filters, reg_filter_size, share, map_input) + (
        1 if share else iterations
    ) * extra


class SIMAP(_PerChannelIRLS):
    """Spatially-invariant filters with predicted IRLS weights (see the module docstring).

    Choices:
        - filter nets as SVMAP, globally average-pooled into uniform filters; pixel-wise IRLS weights from a ReLU net (ω^r) and a sigmoid net (ω^d) per iteration (paper supplement B.1, Tables 6, 7)
        - weight-net inputs: the filter responses g_j ∗ x^t and f_i ∗ r^t (our choice, spec §1.6)
        - initialisation as svmap.irls: last conv of every filter net N(0, 1e-3²) with zero bias; weight nets PyTorch's default except the ω^r output bias, 1.0, so the ReLU starts from positive weights (our choice)
        - operator, free boundary, x⁰, CG (30 plain warm-started steps, ε 1e-6) and map_input as svmap.irls (our choices)

    Args: as :class:`.svmap_irls.SVMAP`.
    """

    _who = "svmap.simap"

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
        n = len(self.data_nets)
        self.data_weight_nets = nn.ModuleList(PredictionNet(self.M, self.M, width, layers, "sigmoid") for _ in range(n))
        self.reg_weight_nets = nn.ModuleList(PredictionNet(self.N, self.N, width, layers, "relu") for _ in range(n))
        for net in self.reg_weight_nets:  # ReLU output: start from positive weights
            nn.init.constant_(net.output_conv.bias, 1.0)

    def system(self, t: int, x: Tensor, y: Tensor, physics: SolverPhysics,
               maps: tuple[Tensor | None, Tensor | None] = (None, None)) -> tuple[Callable[[Tensor], Tensor], Tensor]:
        i = self.stage(t)
        residual = _fold(y - physics.A(x))
        xf = _fold(x)
        f = self.data_nets[i](_with_map(residual, maps[0])).mean(dim=(-2, -1), keepdim=True)
        f = f + delta_taps(self.M, self.s_f, y.dtype, y.device)
        g = zero_mean_taps(self.reg_nets[i](_with_map(xf, maps[1])).mean(dim=(-2, -1), keepdim=True), self.N)
        Fb = FilterBank(f, self.M, residual.shape[-2:])
        Gb = FilterBank(g, self.N, xf.shape[-2:])
        w_d = self.data_weight_nets[i](Fb(residual))
        w_r = self.reg_weight_nets[i](Gb(xf))
        eps = self.epsilon
        obs, dom = y.shape, x.shape

        def apply_A(u: Tensor) -> Tensor:
            data = Fb.normal(_fold(physics.A(u)), w_d).reshape(obs)
            return physics.At(data) + Gb.normal(_fold(u), w_r).reshape(dom) + eps * u

        return apply_A, physics.At(Fb.normal(_fold(y), w_d).reshape(obs))

"""``svmap.simap``: the spatially-invariant MAP baseline of the SVMAP paper (supplement B.1).

Per IRLS iteration t the Table 5 filter nets (as in SVMAP) predict ``s_f²M`` and
``s_g²N`` maps that are **globally average-pooled** into spatially uniform filters
``f_i`` (``s_f × s_f``) and ``g_j`` (``s_g × s_g``); the pixel-dependent IRLS weights are
predicted by two extra nets (Tables 6, 7):

* ``ω^r`` = ReLU-output net (5 × CR64 + CR(3×3 → N)) on the responses ``g_j ∗ x^t``;
* ``ω^d`` = sigmoid-output net (5 × CR64 + CS(3×3 → M)) on the responses ``f_i ∗ r^t``,
  ``r^t = y − K x^t`` (our choice of weight-net inputs, spec §1.6).

Then ``min_x Σ_i ‖√ω_i^d ⊙ (f_i ∗ (y − Kx))‖² + Σ_j ‖√ω_j^r ⊙ (g_j ∗ x)‖² + ε‖x‖²`` is
solved by CG exactly as in :mod:`.svmap_irls`. Filter conventions as there: ``f = δ +
pooled prediction`` and zero-mean ``g`` (our choices). Parameters:
``P_SI = P_SV + T·[P(M, M) + P(N, N)]`` = 1,904,592 for the defaults (paper: 1.92 M).
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from .filters_net import FilterBank, PredictionNet, delta_taps, table5_parameters, zero_mean_taps
from .fourier import ValidConvolution
from .svmap_irls import _PerChannelIRLS, svmap_parameters

__all__ = ["SIMAP", "simap_parameters"]


def simap_parameters(iterations: int = 2, data_filters: int = 3, data_filter_size: int = 11,
                     reg_filters: int = 5, reg_filter_size: int = 7, share: bool = False) -> int:
    """``P_SI = P_SV + T·[P(M, M) + P(N, N)]`` (spec §1.6)."""
    extra = table5_parameters(data_filters, data_filters) + table5_parameters(reg_filters, reg_filters)
    return svmap_parameters(iterations, data_filters, data_filter_size, reg_filters, reg_filter_size, share) + (
        1 if share else iterations
    ) * extra


class SIMAP(_PerChannelIRLS):
    """Spatially-invariant filters with predicted IRLS weights (see the module docstring).

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
    ) -> None:
        super().__init__(iterations, cg_iterations, epsilon, init_lambda, share_across_iterations)
        self._build_filter_nets(data_filters, data_filter_size, reg_filters, reg_filter_size, width, layers)
        n = len(self.data_nets)
        self.data_weight_nets = nn.ModuleList(PredictionNet(self.M, self.M, width, layers, "sigmoid") for _ in range(n))
        self.reg_weight_nets = nn.ModuleList(PredictionNet(self.N, self.N, width, layers, "relu") for _ in range(n))
        for net in (*self.data_nets, *self.reg_nets):
            nn.init.normal_(net[-2 if isinstance(net[-1], (nn.ReLU, nn.Sigmoid)) else -1].weight, std=1e-3)
        for net in self.reg_weight_nets:  # ReLU output: start from positive weights
            nn.init.constant_(net[-2].bias, 1.0)

    def system(self, t: int, x: Tensor, y: Tensor, K: ValidConvolution) -> tuple[Callable[[Tensor], Tensor], Tensor]:
        i = self.stage(t)
        residual = y - K(x)
        f = self.data_nets[i](residual).mean(dim=(-2, -1), keepdim=True) + delta_taps(self.M, self.s_f, y.dtype, y.device)
        g = zero_mean_taps(self.reg_nets[i](x).mean(dim=(-2, -1), keepdim=True), self.N)
        Fb = FilterBank(f, self.M, residual.shape[-2:])
        Gb = FilterBank(g, self.N, x.shape[-2:])
        w_d = self.data_weight_nets[i](Fb(residual))
        w_r = self.reg_weight_nets[i](Gb(x))
        eps = self.epsilon

        def apply_A(u: Tensor) -> Tensor:
            return K.adjoint(Fb.normal(K(u), w_d)) + Gb.normal(u, w_r) + eps * u

        return apply_A, K.adjoint(Fb.normal(y, w_d))

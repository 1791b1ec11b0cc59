"""``nrknet.neumann``: the cross-scale truncated Neumann decoder (spec nrknet.md §3, paper eq. 10).

The blurry image is ``Y = D(X)``; NRKNet inverts ``D`` with the Neumann series
``X = Σ_k (I − D)^k Y`` truncated to a few terms per scale and fused across scales:

    Z_0 = Y_1 + (I−D_1)Y_1 + up2((I−D_2)²Y_2) + up4((I−D_3)³Y_3)          (paper eq. 10)

where ``D_t = D(·; Γ_t)`` is the pipeline's RKR operator with the scale's coefficients
(paper eq. 11), ``Y_t`` the nearest-decimated pyramid and ``up`` bilinear upsampling.
"""

from __future__ import annotations

from torch import Tensor

from restorekit import BlurEstimate, ConfigError, Decoder, DecoderOutput, Features, InputError, Operator

from .pyramid import nearest_pyramid, upsample_bilinear

__all__ = ["CrossScaleNeumannDecoder"]


class CrossScaleNeumannDecoder(Decoder):
    """Cross-scale Neumann decoder; no learnable parameters of its own.

    For each scale t (coarse → fine) with coefficients Γ_t, ``u ← Y_t`` and ``n_t`` times
    ``u ← u − D_t(u)``, where ``D_t(u) = operator.A(u, coefficients=Γ_t)``; so
    ``u_t = (I − D_t)^{n_t} Y_t`` and the per-scale truncated sum
    ``d_t = Σ_{k=0}^{n_t} (I − D_t)^k Y_t`` (the official code's k = 0 term included; the
    paper's Sec. 3.4 omits it — we follow the code).

    Output (image ``Y`` (B, C, H, W)):

    * ``restored`` — ``Z_0 = Y_1 + Σ_t up_{2^{t−1}}(u_t)`` (B, C, H, W) (eq. 10);
    * ``intermediates`` — ``[d_1 (H), d_2 (H/2), d_3 (H/4)]`` finest first;
    * ``extras["neumann_terms"]`` — ``[u_1, u_2, u_3]`` finest first;
      ``extras["pyramid"]`` — ``[Y_1, Y_2, Y_3]``.

    :func:`training_list` gives the official code's list order ``[d_3, d_2, d_1, Z_0]``
    (sizes [H/4, H/2, H, H]).

    Args:
        iterations: ``n_t`` per scale, finest first (NRKNet: ``[1, 2, 3]``); its length is
            the number of scales and must equal the number of Γ scales of the estimator.

    Choices:
        - The k = 0 term (``Y_t`` itself) is included in each per-scale sum ``d_t`` (official
          code; the paper's Sec. 3.4 omits it).
        - Fusion ``Z_0 = Y_1 + Σ_t up(u_t)`` with bilinear upsampling (paper eq. 10, official code).
        - The blur physics is the pipeline's operator (any operator taking ``coefficients``),
          never a private copy.
    """

    provides = frozenset()
    requires = frozenset({"coefficients", "operator"})

    def __init__(self, iterations: list[int] = [1, 2, 3]) -> None:  # noqa: B006 - copied, never mutated
        super().__init__()
        if not iterations or any((not isinstance(n, int)) or n < 0 for n in iterations):
            raise ConfigError(f"nrknet.neumann: iterations must be a non-empty list of non-negative integers, got {iterations}")
        self.iterations = list(iterations)
        self.size_multiple = 2 ** (len(self.iterations) - 1)

    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate,
        operator: Operator | None,
    ) -> DecoderOutput:
        if operator is None:
            raise InputError("nrknet.neumann needs the pipeline's operator (model.operator: {type: nrknet.rkr})")
        gammas = estimate.coefficients if estimate is not None else None
        if gammas is None:
            raise InputError("nrknet.neumann needs RKR coefficients Γ from a blur estimator such as nrknet.coefficients")
        scales = len(self.iterations)
        if len(gammas) != scales:
            raise InputError(
                f"nrknet.neumann: got Γ for {len(gammas)} scales but iterations={self.iterations} has {scales}; "
                f"make nrknet.coefficients' num_scales equal len(iterations)"
            )
        pyramid = nearest_pyramid(image, scales)
        for t, (y, g) in enumerate(zip(pyramid, gammas)):
            if g.shape[-2:] != y.shape[-2:] or g.shape[0] != y.shape[0]:
                raise InputError(
                    f"nrknet.neumann: Γ at scale {t} has shape {tuple(g.shape)} but the image pyramid level is "
                    f"{tuple(y.shape)}; coefficients must be finest first at H/2^t"
                )
        terms: list[Tensor] = [image] * scales
        sums: list[Tensor] = [image] * scales
        for t in reversed(range(scales)):  # coarse → fine, as the official code
            u = pyramid[t]
            d = u
            for _ in range(self.iterations[t]):
                u = u - operator.A(u, coefficients=gammas[t])
                d = d + u
            terms[t], sums[t] = u, d
        restored = image
        for t in reversed(range(scales)):
            restored = restored + upsample_bilinear(terms[t], 2**t)
        return DecoderOutput(
            restored=restored,
            intermediates=sums,
            extras={"neumann_terms": terms, "pyramid": pyramid},
        )


def training_list(output: DecoderOutput) -> list[Tensor]:
    """The official code's training outputs ``[d_3 (H/4), d_2 (H/2), d_1 (H), Z_0 (H)]`` (coarse first)."""
    return [*output.intermediates[::-1], output.restored]

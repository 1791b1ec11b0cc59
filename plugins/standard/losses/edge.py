"""Edge losses: ``standard.edge`` (Laplacian domain) and ``standard.gradient_l1``
(first-order differences)."""

from __future__ import annotations

from typing import Literal

import torch
from kornia.filters import filter2d, laplacian, spatial_gradient
from torch import Tensor

from restorekit import ConfigError

from .base import ImageLoss, Target
from .pixel import charbonnier

_LAPLACIAN_4 = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
"""The 3×3 4-neighbour Laplacian stencil (aibnet.md §6, dramnet.md §2.3)."""


def laplacian_4(image: Tensor) -> Tensor:
    """4-neighbour Laplacian ``Δx`` of ``(B, C, H, W)``, replicate padding, same size.

    Uses ``kornia.filters.filter2d`` with the explicit stencil, because
    ``kornia.filters.laplacian`` only offers the 8-neighbour stencil.
    """
    kernel = torch.tensor(_LAPLACIAN_4, dtype=image.dtype, device=image.device)[None]
    return filter2d(image, kernel, border_type="replicate")


class EdgeLoss(ImageLoss):
    """Laplacian-domain loss (AIBNet eq. 6, L_e; "as in MPRNet"):

        L_e = ρ(Δ P − Δ X)  averaged over elements,

    with Δ the 3×3 Laplacian with replicate padding and ρ the Charbonnier penalty
    ``√(d² + ε²)`` (default) or ``|d|``. ``stencil: "4-neighbour"`` (default) is
    [[0,1,0],[1,−4,1],[0,1,0]] as the spec states; ``"8-neighbour"`` is
    ``kornia.filters.laplacian(…, 3, normalized=False)`` = [[1,1,1],[1,−8,1],[1,1,1]].
    Δ is linear, so it is applied once to ``P − X``.

    Args:
        penalty: ``"charbonnier"`` or ``"l1"``.
        eps: Charbonnier ε (> 0; ignored for ``"l1"``).
        stencil: ``"4-neighbour"`` or ``"8-neighbour"``.
        target: ``"restored"`` | ``"intermediates"`` | ``"all"`` (see the base module).
        scale_weights: one weight per compared prediction (multi-scale targets only).
    """

    def __init__(
        self,
        penalty: Literal["charbonnier", "l1"] = "charbonnier",
        eps: float = 1e-3,
        stencil: Literal["4-neighbour", "8-neighbour"] = "4-neighbour",
        target: Target = "restored",
        scale_weights: list[float] | None = None,
    ) -> None:
        super().__init__(target=target, scale_weights=scale_weights)
        if penalty not in ("charbonnier", "l1"):
            raise ConfigError(f"standard.edge: penalty must be 'charbonnier' or 'l1', got {penalty!r}")
        if stencil not in ("4-neighbour", "8-neighbour"):
            raise ConfigError(f"standard.edge: stencil must be '4-neighbour' or '8-neighbour', got {stencil!r}")
        if not eps > 0:
            raise ConfigError(f"standard.edge: eps must be > 0, got {eps}")
        self.penalty: str = penalty
        self.eps = float(eps)
        self.stencil: str = stencil

    def laplacian(self, image: Tensor) -> Tensor:
        """Δ ``image`` ``(B, C, H, W)`` → ``(B, C, H, W)`` with this loss's stencil."""
        if self.stencil == "4-neighbour":
            return laplacian_4(image)
        return laplacian(image, 3, border_type="replicate", normalized=False)

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """ρ(Δ(prediction − target)) averaged over ``(B, C, h, w)``."""
        d = self.laplacian(prediction - target)
        return charbonnier(d, self.eps) if self.penalty == "charbonnier" else d.abs().mean()


class GradientL1Loss(ImageLoss):
    """L1 distance of image gradients (DRAMNet eq. 5, second term ‖∇P − ∇X‖₁):

        L = mean |∂x P − ∂x X| + mean |∂y P − ∂y X|

    each mean over its own elements. ``difference: "forward"`` (default, dramnet.md §4)
    uses forward differences without padding (``(h, w−1)`` and ``(h−1, w)`` maps; written
    with tensor slicing because kornia has no forward-difference mode); ``"central"`` and
    ``"sobel"`` use ``kornia.filters.spatial_gradient`` (mode ``"diff"`` / ``"sobel"``,
    normalised to derivative units, replicate border, same size). The gradient is linear,
    so it is applied once to ``P − X``.

    Args:
        difference: ``"forward"``, ``"central"`` or ``"sobel"``.
        target: ``"restored"`` | ``"intermediates"`` | ``"all"`` (see the base module).
        scale_weights: one weight per compared prediction (multi-scale targets only).
    """

    def __init__(
        self,
        difference: Literal["forward", "central", "sobel"] = "forward",
        target: Target = "restored",
        scale_weights: list[float] | None = None,
    ) -> None:
        super().__init__(target=target, scale_weights=scale_weights)
        if difference not in ("forward", "central", "sobel"):
            raise ConfigError(f"standard.gradient_l1: difference must be 'forward', 'central' or 'sobel', got {difference!r}")
        self.difference: str = difference

    def gradients(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """``(∂x image, ∂y image)`` of ``(B, C, H, W)`` with this loss's difference scheme."""
        if self.difference == "forward":
            return image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]
        g = spatial_gradient(image, mode="diff" if self.difference == "central" else "sobel", normalized=True)
        return g[:, :, 0], g[:, :, 1]

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """``mean|∂x(P − X)| + mean|∂y(P − X)|`` (a scalar)."""
        gx, gy = self.gradients(prediction - target)
        # a 1-pixel-wide image has no forward difference along that axis: that term is 0
        terms = [g.abs().mean() for g in (gx, gy) if g.numel() > 0]
        return sum(terms, (prediction - target).sum() * 0.0)

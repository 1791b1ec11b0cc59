"""FFT helpers shared by the svmap solvers: free-boundary ("valid") convolution on an
enlarged domain and its exact adjoint, with the kernel's transform cached.

Conventions (DESIGN.md): a kernel ``k`` of shape ``(B, 1|C, h, w)`` means ``y = k * x``,
a true convolution centred at ``(h // 2, w // 2)``.

**Free boundary** (Levin et al. 2007; SVMAP spec §1.5): the unknown sharp image lives on
the enlarged domain ``(H + h − 1) × (W + w − 1)`` and ``K`` is the ``valid`` convolution
that maps it back to ``H × W``. Image pixel ``(i, j)`` sits at ``(i + top, j + left)`` of
the enlarged domain, with ``top = h − 1 − h // 2`` and ``left = w − 1 − w // 2``
(see :func:`free_boundary_padding`), so that for every kernel size, odd or even, the
interior of ``K x`` equals ``scipy.ndimage.convolve(x, k)``.

The valid convolution is computed through a circular FFT convolution of the enlarged
image with the kernel placed at the origin: its last ``H × W`` outputs never wrap and are
exactly the valid outputs. This is faster than a direct ``conv2d`` for the 13–35 px
motion kernels these solvers see (Levin's ``fft_conv`` does the same for large kernels).
:func:`restorekit.functional.conv2d` (``boundary="valid"``) computes the same map; this
class exists only to transform the kernel *once* per solve instead of on every one of the
hundreds of CG operator applications (the tests check the two agree).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CircularConvolution",
    "ValidConvolution",
    "crop",
    "edgetaper",
    "free_boundary_padding",
    "replicate_pad",
]


def free_boundary_padding(kernel_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` margins of the enlarged domain for an ``h × w`` kernel.

    ``top + bottom = h − 1`` and ``left + right = w − 1``; for odd sizes the margins are
    the kernel radius on every side.
    """
    h, w = int(kernel_size[0]), int(kernel_size[1])
    top, left = h - 1 - h // 2, w - 1 - w // 2
    return top, h // 2, left, w // 2


def replicate_pad(y: Tensor, margins: tuple[int, int, int, int]) -> Tensor:
    """Replicate-pad ``y`` ``(B, C, H, W)`` by ``(top, bottom, left, right)``."""
    top, bottom, left, right = margins
    if top == bottom == left == right == 0:
        return y
    return F.pad(y, (left, right, top, bottom), mode="replicate")


def crop(x: Tensor, margins: tuple[int, int, int, int]) -> Tensor:
    """Remove ``(top, bottom, left, right)`` margins from ``x`` ``(B, C, H', W')``."""
    top, bottom, left, right = margins
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


class ValidConvolution:
    """``K``: enlarged domain ``(B, C, H+h−1, W+w−1)`` → observation ``(B, C, H, W)``.

    ``(K x)(p) = Σ_q k(q) · x_enlarged(p + (h−1, w−1) − q)`` — a true ``valid``
    convolution. ``K.T`` (:meth:`adjoint`) zero-embeds ``y`` in the enlarged domain and
    correlates with ``k`` (``conv_transpose2d`` in spatial terms). Both are exact (FFT,
    no wrap-around reaches the kept outputs).

    Args:
        kernel: ``(B|1, 1|C, h, w)`` PSF.
        image_size: ``(H, W)`` of the observation.
    """

    def __init__(self, kernel: Tensor, image_size: tuple[int, int]) -> None:
        if kernel.dim() != 4:
            raise ValueError(f"kernel must be (B, 1|C, h, w), got shape {tuple(kernel.shape)}")
        self.kh, self.kw = int(kernel.shape[-2]), int(kernel.shape[-1])
        self.H, self.W = int(image_size[0]), int(image_size[1])
        self.Nh, self.Nw = self.H + self.kh - 1, self.W + self.kw - 1
        self.otf = torch.fft.rfft2(kernel, s=(self.Nh, self.Nw))
        self.margins = free_boundary_padding((self.kh, self.kw))

    @property
    def domain_size(self) -> tuple[int, int]:
        """``(H + h − 1, W + w − 1)``."""
        return self.Nh, self.Nw

    def __call__(self, x: Tensor) -> Tensor:
        """``K x``: ``(B, C, H+h−1, W+w−1) → (B, C, H, W)``."""
        full = torch.fft.irfft2(torch.fft.rfft2(x) * self.otf, s=(self.Nh, self.Nw))
        return full[..., self.kh - 1 :, self.kw - 1 :]

    def adjoint(self, y: Tensor) -> Tensor:
        """``Kᵀ y``: ``(B, C, H, W) → (B, C, H+h−1, W+w−1)``."""
        emb = F.pad(y, (self.kw - 1, 0, self.kh - 1, 0))
        return torch.fft.irfft2(torch.fft.rfft2(emb) * self.otf.conj(), s=(self.Nh, self.Nw))


def edgetaper(y: Tensor, kernel: Tensor, iterations: int = 1) -> Tensor:
    """MATLAB ``edgetaper``: blend ``y`` towards its circularly blurred self near the borders.

    ``y ← α ⊙ y + (1 − α) ⊙ (k ⊛ y)`` (⊛ circular convolution), where
    ``α = (1 − z_r) ⊗ (1 − z_c)`` and ``z_r``, ``z_c`` are the circular autocorrelations of
    the kernel's row and column projections, normalised to peak 1. This makes the image
    consistent with circular blur at its wrap-around seam, so FFT deconvolution does not
    ring there. Repeating it (``iterations``) widens the taper.

    Args:
        y: ``(B, C, H, W)``; kernel: ``(B|1, 1|C, h, w)``; iterations: ≥ 0.
    """
    from restorekit.functional import psf2otf

    H, W = int(y.shape[-2]), int(y.shape[-1])
    k = kernel.to(y.dtype)

    def taper(projection: Tensor, n: int) -> Tensor:
        z = torch.fft.irfft(torch.fft.rfft(projection, n=n).abs() ** 2, n=n)
        return 1.0 - z / z.amax(dim=-1, keepdim=True)

    alpha = taper(k.sum(-1), H)[..., :, None] * taper(k.sum(-2), W)[..., None, :]
    otf = psf2otf(k, (H, W))
    for _ in range(iterations):
        blurred = torch.fft.irfft2(torch.fft.rfft2(y) * otf, s=(H, W))
        y = alpha * y + (1.0 - alpha) * blurred
    return y


class CircularConvolution:
    """``K`` for circular (periodic) boundaries on ``H × W``, same interface as
    :class:`ValidConvolution` (zero margins): ``K x = k ⊛ x``, ``Kᵀ y = k ⋆ y`` (circular
    correlation), with the OTF (``restorekit.functional.psf2otf``) computed once.
    """

    def __init__(self, kernel: Tensor, image_size: tuple[int, int]) -> None:
        from restorekit.functional import psf2otf

        self.Nh, self.Nw = int(image_size[0]), int(image_size[1])
        self.otf = psf2otf(kernel, (self.Nh, self.Nw))
        self.margins = (0, 0, 0, 0)

    @property
    def domain_size(self) -> tuple[int, int]:
        return self.Nh, self.Nw

    def __call__(self, x: Tensor) -> Tensor:
        return torch.fft.irfft2(torch.fft.rfft2(x) * self.otf, s=(self.Nh, self.Nw))

    def adjoint(self, y: Tensor) -> Tensor:
        return torch.fft.irfft2(torch.fft.rfft2(y) * self.otf.conj(), s=(self.Nh, self.Nw))

"""The blur physics as the svmap solvers see it: the pipeline's operator, bound to the
merged blur estimate, plus the domain bookkeeping every solver needs.

The solvers never carry their own convolution: :func:`bind_physics` binds the pipeline's
:class:`~restorekit.Operator` (``operator.bind_estimate(estimate)``) or, when the pipeline
has none, the documented default ``standard.convolution`` with the estimate's ``kernel``
(``boundary: valid`` for the free boundary, ``circular`` for periodic data). Every
product with the blur goes through ``A`` / ``A_adjoint`` of that bound operator, which for
``standard.convolution`` is :func:`restorekit.functional.conv2d` (one implementation,
FFT products for large kernels, channels batched, transfer functions cached).

**Domain** (how a generic operator expresses the free boundary). The unknown image lives
where the operator's *input* lives: the shape of ``Aᵀ y``. A ``valid`` convolution maps
``(H + h − 1) × (W + w − 1)`` onto the observed ``H × W`` — that *is* Levin's free
boundary (the mask of ``deconvSps.m`` is 1 exactly on the valid outputs) — and
same-size operators (circular or padded convolution, ``nrknet.rkr``, per-pixel filters)
solve on ``H × W``. When the domain is larger by ``(dh, dw)``, the observation sits at
offset ``(dh // 2, dw // 2)`` (:func:`free_boundary_padding`): where a true convolution
centred at ``(h // 2, w // 2)`` (the toolkit's kernel convention) puts it. Solutions are
cropped back with these margins.

**Affine operators** (``nrknet.rkr`` reference form, with a bias): solvers use
``A_linear`` and subtract the offset ``A(0)`` from the observation.

**Channels.** Operators that declare ``channelwise = True`` (``standard.convolution``,
``standard.spatially_variant_filter``) blur every colour channel independently, so CG
takes its step sizes per channel (independent systems, as Levin's per-channel MATLAB
code); for other operators (``nrknet.rkr`` mixes colours) CG runs jointly per image.

**Circulant approximation** (:meth:`SolverPhysics.otf`). FFT solvers and CG
preconditioners need the operator's diagonal in the DFT basis. When the operator exposes
:meth:`~restorekit.Operator.transfer_function` (circular convolution) it is used as is;
otherwise the point-spread of ``A`` at the centre of the domain is measured with one
application of ``A`` to a Dirac and transformed — exact for a uniform convolution (it
is then ``psf2otf(k)`` of the kernel, on the enlarged domain), the local blur at the
centre for spatially varying operators. It is used only for initialisations and
preconditioners, never as the forward model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import BlurEstimate, InputError, Operator
from restorekit.interfaces import BoundOperator

__all__ = [
    "DTYPES",
    "SolverPhysics",
    "bind_physics",
    "checked_kernel",
    "crop",
    "default_operator",
    "edgetaper",
    "free_boundary_padding",
    "replicate_pad",
]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --------------------------------------------------------------------------------------
# margins, padding and cropping
# --------------------------------------------------------------------------------------


def free_boundary_padding(kernel_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` margins of the enlarged domain for an ``h × w`` kernel.

    ``top + bottom = h − 1`` and ``left + right = w − 1``; ``top = (h − 1) // 2``, so for
    odd sizes the margins are the kernel radius on every side and, for every size, the
    interior of the ``valid`` convolution equals ``scipy.ndimage.convolve(x, k)``.
    """
    h, w = int(kernel_size[0]), int(kernel_size[1])
    top, left = h - 1 - h // 2, w - 1 - w // 2
    return top, h // 2, left, w // 2


def _margins_between(domain: tuple[int, int], obs: tuple[int, int]) -> tuple[int, int, int, int]:
    dh, dw = int(domain[0]) - int(obs[0]), int(domain[1]) - int(obs[1])
    if dh < 0 or dw < 0:
        raise InputError(
            f"the operator maps a {tuple(domain)} image onto a {tuple(obs)} observation; the svmap solvers "
            f"need an input domain at least as large as the observation"
        )
    return free_boundary_padding((dh + 1, dw + 1))


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


def edgetaper(y: Tensor, kernel: Tensor, iterations: int = 1) -> Tensor:
    """MATLAB ``edgetaper``: blend ``y`` towards its circularly blurred self near the borders.

    ``y ← α ⊙ y + (1 − α) ⊙ (k ⊛ y)`` (⊛ circular convolution,
    :func:`restorekit.functional.conv2d`), where ``α = (1 − z_r) ⊗ (1 − z_c)`` and ``z_r``,
    ``z_c`` are the circular autocorrelations of the kernel's row and column projections,
    normalised to peak 1. This makes the image consistent with circular blur at its
    wrap-around seam, so FFT deconvolution does not ring there. Repeating it
    (``iterations``) widens the taper.

    Args:
        y: ``(B, C, H, W)``; kernel: ``(B|1, 1|C, h, w)``; iterations: ≥ 0.
    """
    from restorekit.functional import conv2d

    H, W = int(y.shape[-2]), int(y.shape[-1])
    k = kernel.to(y.dtype)

    def taper(projection: Tensor, n: int) -> Tensor:
        z = torch.fft.irfft(torch.fft.rfft(projection, n=n).abs() ** 2, n=n)
        return 1.0 - z / z.amax(dim=-1, keepdim=True)

    alpha = taper(k.sum(-1), H)[..., :, None] * taper(k.sum(-2), W)[..., None, :]
    for _ in range(iterations):
        y = alpha * y + (1.0 - alpha) * conv2d(y, k, boundary="circular", method="fft")
    return y


# --------------------------------------------------------------------------------------
# binding
# --------------------------------------------------------------------------------------


def checked_kernel(estimate: BlurEstimate, image: Tensor, who: str) -> Tensor:
    """The estimate's kernel as ``(B|1, 1|C, h, w)`` on the image's device, with checks."""
    kernel = estimate.kernel
    if kernel is None:
        raise InputError(
            f"{who} needs a blur kernel: use `blur_estimator: {{type: standard.given_kernel}}` and put "
            f"'kernel' in the batch (or pass --kernel PSF.png to `restorekit deblur`), or give the pipeline "
            f"an `operator:` whose parameters the blur estimators provide"
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


def default_operator(boundary: Literal["valid", "circular"]) -> Operator:
    """The operator the solvers use when the pipeline has none: ``standard.convolution``
    with ``boundary`` (``valid`` = free boundary) and ``method: auto``."""
    import restorekit

    return restorekit.create("standard.convolution", boundary=boundary)


def _cast(value: Any, dtype: torch.dtype, device: torch.device) -> Any:
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.to(device=device, dtype=dtype)
    if isinstance(value, (list, tuple)) and value and all(isinstance(t, Tensor) for t in value):
        return type(value)(_cast(t, dtype, device) for t in value)
    return value


@dataclass
class SolverPhysics:
    """A bound operator with the domain bookkeeping of the svmap solvers.

    Attributes:
        bound: the operator with its parameters fixed (cast to the solve dtype).
        obs_shape: ``(B, C, H, W)`` of the observation.
        domain_shape: ``(B, C, H_d, W_d)`` of the unknown image (the shape of ``Aᵀ y``).
        margins: ``(top, bottom, left, right)`` of the observation inside the domain.
        channelwise: the operator blurs every channel independently.
        offset: ``A(0)`` for affine operators (subtract it from the observation), else ``None``.
        default: the operator is the solver's default (no operator in the pipeline).
        dtype, device: of the solve.
    """

    bound: BoundOperator
    obs_shape: tuple[int, ...]
    domain_shape: tuple[int, ...]
    margins: tuple[int, int, int, int]
    channelwise: bool
    offset: Tensor | None = None
    default: bool = False
    dtype: torch.dtype = torch.float64
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _otf: dict = field(default_factory=dict, repr=False)

    # -- the operator ---------------------------------------------------------------------
    def A(self, x: Tensor) -> Tensor:
        """The linear part of the forward model, domain → observation."""
        return self.bound.A_linear(x)

    def At(self, y: Tensor) -> Tensor:
        """Its adjoint, observation → domain."""
        return self.bound.A_adjoint(y)

    def AtA(self, x: Tensor) -> Tensor:
        return self.bound.A_adjoint(self.bound.A_linear(x))

    def data(self, y: Tensor) -> Tensor:
        """The observation the linear part must explain: ``y − A(0)`` (``y`` for linear operators)."""
        return y if self.offset is None else y - self.offset

    @property
    def cg_dims(self) -> tuple[int, ...]:
        """Dimensions CG takes its inner products over (per channel, or jointly per image)."""
        return (-2, -1) if self.channelwise else (-3, -2, -1)

    @property
    def domain_size(self) -> tuple[int, int]:
        return int(self.domain_shape[-2]), int(self.domain_shape[-1])

    # -- domain ---------------------------------------------------------------------------
    def pad(self, y: Tensor) -> Tensor:
        """``y`` replicate-padded to the domain (the classical CG start)."""
        return replicate_pad(y, self.margins)

    def crop(self, x: Tensor) -> Tensor:
        """A domain image cropped to the observation's ``H × W``."""
        return crop(x, self.margins)

    # -- Fourier view ---------------------------------------------------------------------
    def transfer_function(self, size: tuple[int, int] | None = None) -> Tensor | None:
        """The operator's own DFT diagonal at ``size`` (the domain by default), or ``None``."""
        size = self.domain_size if size is None else (int(size[0]), int(size[1]))
        key = ("tf", size)
        if key not in self._otf:
            self._otf[key] = self.bound.transfer_function(size, onesided=True)
        return self._otf[key]

    @property
    def diagonalisable(self) -> bool:
        """Whether the FFT diagonalises the operator on its domain (circular convolution)."""
        return self.transfer_function() is not None and self.domain_size == tuple(self.obs_shape[-2:])

    def otf(self, size: tuple[int, int] | None = None) -> Tensor:
        """A DFT diagonal ``(B|1, C|1, H_f, W_f // 2 + 1)`` for a grid of ``size`` (the
        domain by default, or a larger grid the domain is zero-extended into): the
        operator's transfer function when the FFT diagonalises it (then ``size`` must be the
        domain), else the transform of its point-spread at the domain centre (see the module
        docstring). Exact for uniform convolution."""
        size = self.domain_size if size is None else (int(size[0]), int(size[1]))
        key = ("otf", size)
        if key not in self._otf:
            if self.diagonalisable:
                if size != self.domain_size:
                    raise ValueError(f"a circulant operator's diagonal lives on its domain {self.domain_size}, not {size}")
                self._otf[key] = self.transfer_function()
            else:
                psf, (ch, cw) = self.psf()
                Hd, Wd = self.domain_size
                if size[0] < Hd or size[1] < Wd:
                    raise ValueError(f"grid {size} is smaller than the domain {self.domain_size}")
                grid = F.pad(psf, (0, size[1] - Wd, 0, size[0] - Hd))
                self._otf[key] = torch.fft.rfft2(torch.roll(grid, shifts=(-ch, -cw), dims=(-2, -1)))
        return self._otf[key]

    def psf(self) -> tuple[Tensor, tuple[int, int]]:
        """The response of ``A`` to a Dirac at the domain centre, placed back on the domain
        grid ``(B, C, H_d, W_d)``, and that centre ``(c_h, c_w)``. Differentiable in the
        operator's parameters (so are the preconditioners built on it: the gradient of a
        truncated preconditioned CG then matches finite differences)."""
        if "psf" not in self._otf:
            Hd, Wd = self.domain_size
            ch, cw = Hd // 2, Wd // 2
            delta = torch.zeros(self.domain_shape, dtype=self.dtype, device=self.device)
            delta[..., ch, cw] = 1.0
            response = self.A(delta)  # (B, C, H, W); tracked by autograd when the operator's parameters are
            top, _, left, _ = self.margins
            H, W = int(response.shape[-2]), int(response.shape[-1])
            psf = F.pad(response, (left, Wd - W - left, top, Hd - H - top))
            self._otf["psf"] = (psf, (ch, cw))
        return self._otf["psf"]


def bind_physics(
    operator: Operator | None,
    estimate: BlurEstimate,
    image: Tensor,
    dtype: torch.dtype,
    who: str,
    default_boundary: Literal["valid", "circular"] = "valid",
) -> SolverPhysics:
    """Bind ``operator`` (or the default convolution) to ``estimate`` for solving on ``image``.

    Args:
        operator: the pipeline's operator, or ``None`` for the default
            ``standard.convolution`` (``boundary: default_boundary``) with ``estimate.kernel``.
        estimate: the merged blur estimate (``kernel``, ``coefficients``, ``filters`` …).
        image: the observation ``(B, C, H, W)``.
        dtype: the solve precision; floating-point operator parameters are cast to it.
        who: the component name, for error messages.

    Raises:
        InputError: the estimate lacks what the operator needs, or the kernel is unusable.
    """
    device = image.device
    is_default = operator is None
    if operator is None:
        kernel = checked_kernel(estimate, image, who)
        operator = default_operator(default_boundary)
        params: dict[str, Any] = {"kernel": kernel}
    else:
        try:
            params = operator.parameters_from(estimate)
        except ValueError as exc:
            raise InputError(f"{who}: {exc}; add a blur estimator that provides it") from None
    params = {k: _cast(v, dtype, device) for k, v in params.items()}
    bound = operator.bind(**params)
    y = torch.zeros(image.shape, dtype=dtype, device=device)
    with torch.no_grad():
        domain = tuple(bound.A_adjoint(y).shape)
    if len(domain) != 4 or domain[:2] != tuple(image.shape[:2]):
        raise InputError(f"{who}: the operator's adjoint maps {tuple(image.shape)} to {domain}; expected (B, C, H', W')")
    margins = _margins_between(domain[-2:], tuple(image.shape[-2:]))
    offset = None
    if not getattr(operator, "linear", True):
        zero = torch.zeros(domain, dtype=dtype, device=device)
        offset = bound.A(zero) - bound.A_linear(zero)
    phys = SolverPhysics(
        bound=bound,
        obs_shape=tuple(image.shape),
        domain_shape=domain,
        margins=margins,
        channelwise=bool(getattr(operator, "channelwise", False)),
        offset=offset,
        default=is_default,
        dtype=dtype,
        device=device,
    )
    return phys

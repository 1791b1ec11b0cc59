"""Depth-dependent defocus blur (spec operators_and_kernels.md §7.5).

Thin-lens circle of confusion ``c(d) = A·f·|d − d_f| / (d·(d_f − f))`` with aperture
``A = f/N``; blur radius in pixels ``r(d) = c(d) / (2·pixel_pitch)``.

Three ways to blur an image ``x`` ``(B, C, H, W)`` with a radius map ``r`` ``(B|1, 1, H, W)``:

* ``layered`` (default): ``L`` radii ``r_l = r_max·l/(L−1)``; soft masks ``m_l(p)`` are
  the bilinear one-hot of ``r(p)`` between neighbouring levels; output-side
  product-convolution ``y = Σ_l m_l ⊙ (disk_{r_l} ∗ x)``. Rows sum to 1 (Σ_l m_l = 1).
* ``per_pixel``: each output pixel gathers with its own disk of radius ``r(p)`` (8×8
  supersampled, same grid as :func:`~restorekit.psf.disk`), through
  ``restorekit.kernels.pixel_filter_apply``.
* ``rkr``: through the recursive kernel operator ``restorekit.kernels.rkr_apply``
  (NRKNet). Our choice: every recursion step uses the fixed symmetric binomial atom
  ``[¼, ½, ¼]`` on rows and columns, so (away from borders) ``B_j`` is a separable
  binomial blur with per-axis variance ``j/2``; a uniform disk of radius r has per-axis
  variance ``r²/4``, so the matching depth is ``j*(r) = r²/2``; Γ is the bilinear soft
  one-hot of ``j*(r(p))`` over ``j = 0..R`` with ``R = ⌈r_max²/2⌉`` (the mixture of
  ``B_⌊j*⌋`` and ``B_⌈j*⌉`` then has exactly the disk's variance). It matches the disk's
  second moment, not its shape (the result is Gaussian-like).

Boundaries: ``layered`` and ``per_pixel`` take any padding mode of
:mod:`restorekit.functional` (default ``reflect``); ``rkr`` reflects at every step.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit.errors import InputError
from restorekit.functional import pad, product_conv2d

from .disk import disk, subsample_distances

DefocusMode = Literal["layered", "per_pixel", "rkr"]
BINOMIAL_ATOM: tuple[float, float, float] = (0.25, 0.5, 0.25)
"""The fixed RKR atom of ``mode="rkr"`` (per-pass variance ½ px²)."""

__all__ = [
    "BINOMIAL_ATOM",
    "DepthDefocus",
    "coc_radius",
    "defocus_depth",
    "layer_masks",
    "per_pixel_disk_filters",
    "rkr_gamma",
]


def coc_radius(
    depth: Tensor,
    focal_length: float,
    f_number: float,
    focus_distance: float,
    pixel_pitch: float,
) -> Tensor:
    """Thin-lens blur radius in pixels ``r(d) = A·f·|d − d_f| / (d·(d_f − f)) / (2·pitch)``,
    ``A = f / N``. All lengths in the same unit (e.g. metres); ``depth > 0``.

    Returns:
        tensor shaped like ``depth``.
    """
    if not (focal_length > 0 and f_number > 0 and pixel_pitch > 0):
        raise InputError("focal_length, f_number and pixel_pitch must all be > 0")
    if focus_distance <= focal_length:
        raise InputError(
            f"focus_distance ({focus_distance}) must exceed the focal length ({focal_length}); "
            f"a thin lens cannot focus closer than f"
        )
    if not torch.is_tensor(depth):
        depth = torch.as_tensor(depth, dtype=torch.float64)
    if bool((depth <= 0).any()) or not bool(torch.isfinite(depth).all()):
        raise InputError("depth must be finite and > 0 everywhere (same unit as the focal length)")
    aperture = focal_length / f_number
    coc = aperture * focal_length * (depth - focus_distance).abs() / (depth * (focus_distance - focal_length))
    return coc / (2 * pixel_pitch)


def _check_radius(x: Tensor, radius: Tensor) -> Tensor:
    if x.dim() != 4 or not x.is_floating_point():
        raise InputError(f"x must be a float tensor (B, C, H, W), got {tuple(x.shape)} {x.dtype}")
    if not torch.is_tensor(radius):
        radius = torch.as_tensor(radius)
    if radius.dim() == 2:
        radius = radius[None, None]
    if radius.dim() != 4 or radius.shape[1] != 1 or radius.shape[0] not in (1, x.shape[0]):
        raise InputError(f"radius/depth map must be (B|1, 1, H, W) or (H, W), got {tuple(radius.shape)}")
    if tuple(radius.shape[-2:]) != tuple(x.shape[-2:]):
        raise InputError(f"radius/depth map is {tuple(radius.shape[-2:])} but the image is {tuple(x.shape[-2:])}; resize it")
    if bool((radius < 0).any()) or not bool(torch.isfinite(radius).all()):
        raise InputError("blur radius must be finite and >= 0")
    return radius.to(device=x.device, dtype=x.dtype)


def layer_masks(radius: Tensor, levels: int, r_max: float) -> tuple[Tensor, list[float]]:
    """Bilinear soft one-hot masks over ``levels`` radii ``r_l = r_max·l/(L−1)``.

    Args:
        radius: ``(B, 1, H, W)``, values clipped to ``[0, r_max]``.

    Returns:
        masks ``(B, 1, L, H, W)`` summing to 1 over ``L``, and the list of radii.
    """
    if levels < 2:
        raise InputError(f"layered defocus needs at least 2 levels, got {levels}")
    step = r_max / (levels - 1) if r_max > 0 else 1.0
    pos = (radius.clamp(0, r_max) / step)[:, :, None]  # (B,1,1,H,W) in [0, L-1]
    idx = torch.arange(levels, device=radius.device, dtype=radius.dtype).reshape(1, 1, levels, 1, 1)
    masks = (1 - (pos - idx).abs()).clamp_min(0)
    return masks, [step * i for i in range(levels)]


def per_pixel_disk_filters(radius: Tensor, size: int, supersample: int = 8) -> Tensor:
    """Per-pixel disks of radius ``radius(p)`` on a common ``size × size`` grid.

    Each tap is the fraction of its ``supersample²`` sub-samples within ``r(p)`` of the
    centre — the empirical CDF of the tap's sub-sample distances at ``r(p)`` — normalised
    per pixel (a Dirac where the disk covers no sub-sample), as :func:`disk`.

    Args:
        radius: ``(B, 1, H, W)``.

    Returns:
        ``(B, 1, size·size, H, W)``.
    """
    B, _, H, W = radius.shape
    dist = subsample_distances(size, supersample).to(device=radius.device, dtype=radius.dtype)
    dist, _ = dist.sort(dim=1)  # (s², n²)
    r = radius.reshape(1, B * H * W).expand(size * size, -1).contiguous()
    counts = torch.searchsorted(dist.contiguous(), r, right=True).to(radius.dtype)  # (s², BHW)
    taps = counts / dist.shape[1]
    total = taps.sum(dim=0, keepdim=True)
    dirac = torch.zeros_like(taps)
    dirac[(size * size) // 2] = 1.0
    taps = torch.where(total > 0, taps / total.clamp_min(torch.finfo(taps.dtype).tiny), dirac)
    return taps.reshape(size * size, B, H, W).permute(1, 0, 2, 3)[:, None]


def rkr_gamma(radius: Tensor, steps: int) -> Tensor:
    """Γ for ``mode="rkr"``: the bilinear soft one-hot of ``j*(r) = r²/2`` over
    ``j = 0..steps`` (see module docstring).

    Args:
        radius: ``(B, 1, H, W)``.

    Returns:
        ``(B, steps + 1, H, W)``, summing to 1 over the depth axis.
    """
    j = (radius**2 / 2).clamp(0, steps)
    idx = torch.arange(steps + 1, device=radius.device, dtype=radius.dtype).reshape(1, steps + 1, 1, 1)
    return (1 - (j - idx).abs()).clamp_min(0)


class DepthDefocus:
    """Depth-dependent defocus: ``DepthDefocus(...)(x, depth)`` or ``.apply_radius(x, r)``.

    Args:
        focal_length, f_number, focus_distance, pixel_pitch: thin-lens parameters (one
            length unit, e.g. metres; defaults 50 mm, f/2.8, focused at 2 m, 20 µm pixels).
        mode: ``layered``, ``per_pixel`` or ``rkr`` (module docstring).
        levels: number of layers ``L`` for ``layered``.
        r_max: largest radius in pixels (the map is clipped to it); ``None`` uses the
            map's maximum.
        boundary: padding mode for ``layered`` / ``per_pixel``.
        supersample: disk sub-samples per pixel side.
    """

    def __init__(
        self,
        focal_length: float = 0.05,
        f_number: float = 2.8,
        focus_distance: float = 2.0,
        pixel_pitch: float = 2e-5,
        mode: DefocusMode = "layered",
        levels: int = 16,
        r_max: float | None = None,
        boundary: Literal["zeros", "circular", "reflect", "symmetric", "replicate"] = "reflect",
        supersample: int = 8,
    ) -> None:
        if mode not in ("layered", "per_pixel", "rkr"):
            raise InputError(f"unknown defocus mode '{mode}'; use layered, per_pixel or rkr")
        if r_max is not None and r_max < 0:
            raise InputError(f"r_max must be >= 0, got {r_max}")
        self.focal_length = focal_length
        self.f_number = f_number
        self.focus_distance = focus_distance
        self.pixel_pitch = pixel_pitch
        self.mode = mode
        self.levels = levels
        self.r_max = r_max
        self.boundary = boundary
        self.supersample = supersample

    def radius(self, depth: Tensor) -> Tensor:
        """Blur radius map in pixels for a depth map (same shape)."""
        return coc_radius(depth, self.focal_length, self.f_number, self.focus_distance, self.pixel_pitch)

    def __call__(self, x: Tensor, depth: Tensor) -> Tensor:
        """Blur ``x`` ``(B, C, H, W)`` by the defocus of ``depth`` ``(B|1, 1, H, W)``."""
        return self.apply_radius(x, self.radius(depth.to(device=x.device, dtype=x.dtype)))

    def apply_radius(self, x: Tensor, radius: Tensor) -> Tensor:
        """Blur ``x`` ``(B, C, H, W)`` with a per-pixel radius map ``(B|1, 1, H, W)`` (pixels)."""
        radius = _check_radius(x, radius)
        r_max = float(radius.max()) if self.r_max is None else float(self.r_max)
        radius = radius.clamp(0, r_max)
        if self.mode == "layered":
            return self._layered(x, radius, r_max)
        if self.mode == "per_pixel":
            return self._per_pixel(x, radius, r_max)
        return self._rkr(x, radius, r_max)

    def _layered(self, x: Tensor, radius: Tensor, r_max: float) -> Tensor:
        masks, radii = layer_masks(radius, self.levels, r_max)
        size = 2 * math.ceil(r_max) + 1
        filters = torch.stack([disk(r, self.supersample, size) for r in radii]).to(device=x.device, dtype=x.dtype)
        return product_conv2d(x, filters[None, None], masks, weighting="output", boundary=self.boundary)

    def _per_pixel(self, x: Tensor, radius: Tensor, r_max: float) -> Tensor:
        from restorekit.kernels import pixel_filter_apply

        size = 2 * math.ceil(r_max) + 1
        c = size // 2
        filters = per_pixel_disk_filters(radius, size, self.supersample)
        if self.boundary == "zeros":
            return pixel_filter_apply(x, filters)
        H, W = x.shape[-2:]
        y = pixel_filter_apply(pad(x, c, self.boundary), F.pad(filters, (c, c, c, c)))
        return y[..., c : c + H, c : c + W]

    def _rkr(self, x: Tensor, radius: Tensor, r_max: float) -> Tensor:
        from restorekit.kernels import rkr_apply

        steps = max(1, math.ceil(r_max**2 / 2))
        atoms = torch.tensor(BINOMIAL_ATOM, device=x.device, dtype=x.dtype).reshape(1, 1, 3).expand(steps, 1, 3)
        return rkr_apply(x, atoms.contiguous(), rkr_gamma(radius, steps))


def defocus_depth(x: Tensor, depth: Tensor, mode: DefocusMode = "layered", **options: float | int | str | None) -> Tensor:
    """Functional form of :class:`DepthDefocus`: ``defocus_depth(x, depth, mode=…, …)``."""
    return DepthDefocus(mode=mode, **options)(x, depth)  # type: ignore[arg-type]

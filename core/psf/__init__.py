"""restorekit.psf: seeded blur-kernel generators and kernel files.

All generators return float64 CPU kernels ``(h, w)``, ≥ 0, summing to 1, in the project
convention (true convolution, centre ``(h//2, w//2)``, MATLAB orientation), and are
deterministic for an int seed or a ``torch.Generator`` (spec operators_and_kernels.md §7).

* :func:`motion_bf` — Boracchi–Foi camera-shake trajectories (DeblurGAN port);
* :func:`motion_gp` — Gaussian-process (Matérn-5/2) trajectories (deepinv);
* :func:`gaussian` / :func:`random_gaussian` — isotropic and anisotropic Gaussians;
* :func:`disk` / :func:`random_disk` — defocus pillbox (8×8 supersampled);
* :class:`DepthDefocus` / :func:`defocus_depth` — depth-dependent defocus (thin lens);
* :func:`load_kernel` / :func:`save_kernel` — ``.npy``, ``.npz``, ``.png``, ``.mat``.
"""

from __future__ import annotations

from .defocus_depth import (
    BINOMIAL_ATOM,
    DepthDefocus,
    coc_radius,
    defocus_depth,
    layer_masks,
    per_pixel_disk_filters,
    rkr_gamma,
)
from .disk import disk, random_disk
from .gaussian import gaussian, random_gaussian
from .io import KERNEL_SUFFIXES, check_kernel_array, load_kernel, save_kernel
from .motion_bf import bf_psf, bf_trajectory, motion_bf
from .motion_gp import matern52, motion_gp

__all__ = [
    "BINOMIAL_ATOM",
    "DepthDefocus",
    "KERNEL_SUFFIXES",
    "bf_psf",
    "bf_trajectory",
    "check_kernel_array",
    "coc_radius",
    "defocus_depth",
    "disk",
    "gaussian",
    "layer_masks",
    "load_kernel",
    "matern52",
    "motion_bf",
    "motion_gp",
    "per_pixel_disk_filters",
    "random_disk",
    "random_gaussian",
    "rkr_gamma",
    "save_kernel",
]

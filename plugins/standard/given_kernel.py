"""``standard.given_kernel``: a blur estimator that returns a known PSF (non-blind deblurring)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from restorekit import BlurEstimate, BlurEstimator, Features, InputError
from restorekit.interfaces import Batch


class GivenKernel(BlurEstimator):
    """Returns the batch's ``kernel`` (or a kernel file), normalised to sum 1.

    The kernel follows the project convention: ``y = k * x``, a true convolution centred
    at ``(h // 2, w // 2)``. Output ``BlurEstimate.kernel`` has shape ``(B, 1 or C, h, w)``.

    Args:
        path: optional kernel file (``.npy``, ``.npz``, ``.png``, ``.mat``) used when the
            batch has no ``kernel``; loaded once with :func:`restorekit.psf.load_kernel`.
        normalize: rescale each kernel to sum 1 (negative or all-zero kernels are errors).
    """

    provides = frozenset({"kernel"})
    requires = frozenset()

    def __init__(self, path: str | None = None, normalize: bool = True) -> None:
        super().__init__()
        self.path = path
        self.normalize = normalize
        self._file_kernel: Tensor | None = None
        if path is not None:
            from restorekit.psf import load_kernel

            self._file_kernel = torch.as_tensor(load_kernel(path), dtype=torch.float32)

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate, batch: Batch) -> BlurEstimate:
        kernel: Any = batch.get("kernel") if batch is not None else None
        if kernel is None:
            if self._file_kernel is None:
                raise InputError(
                    "standard.given_kernel needs a kernel: put 'kernel' (B, 1|C, h, w) in the batch, "
                    "pass --kernel PSF.png on the command line, or set `path:` in the YAML"
                )
            kernel = self._file_kernel
        kernel = self.check_kernel(kernel, image)
        return BlurEstimate(kernel=kernel)

    def check_kernel(self, kernel: Any, image: Tensor) -> Tensor:
        """Shape checks shared with the convolution code, then non-negativity and sum 1."""
        from restorekit.functional import as_kernel4d

        ref = image if image.is_floating_point() else image.float()
        kernel = as_kernel4d(kernel, ref)
        if self.normalize:
            if (kernel < 0).any():
                raise InputError("kernel has negative entries; a PSF must be non-negative")
            sums = kernel.sum(dim=(-2, -1), keepdim=True)
            if (sums <= 0).any():
                raise InputError("kernel sums to 0; a PSF must have positive mass")
            kernel = kernel / sums
        return kernel

"""restorekit.functional: the core's low-level physics (padding, convolution,
product-convolution), shared by the engine's synthetic data and by the plugins.

All functions take ``(B, C, H, W)`` tensors, run on CPU and CUDA, in float32/float64, and
each forward map has an exact adjoint (spec operators_and_kernels.md §1).
"""

from __future__ import annotations

from .convolution import (
    BOUNDARIES,
    FFT_AUTO_MIN_TAPS,
    FFT_AUTO_MIN_TAPS_CPU,
    METHODS,
    OTF_CACHE_SIZE,
    SHIFT_MAX_TAPS,
    Boundary,
    Method,
    as_kernel4d,
    clear_otf_cache,
    conv2d,
    conv2d_adjoint,
    conv_out_shape,
    psf2otf,
)
from .padding import PAD_MODES, PadMode, normalize_pad, pad, pad_adjoint, pad_indices
from .product_convolution import Weighting, product_conv2d, product_conv2d_adjoint

__all__ = [
    "BOUNDARIES",
    "Boundary",
    "FFT_AUTO_MIN_TAPS",
    "FFT_AUTO_MIN_TAPS_CPU",
    "METHODS",
    "Method",
    "OTF_CACHE_SIZE",
    "SHIFT_MAX_TAPS",
    "PAD_MODES",
    "PadMode",
    "Weighting",
    "as_kernel4d",
    "clear_otf_cache",
    "conv2d",
    "conv2d_adjoint",
    "conv_out_shape",
    "normalize_pad",
    "pad",
    "pad_adjoint",
    "pad_indices",
    "product_conv2d",
    "product_conv2d_adjoint",
    "psf2otf",
]

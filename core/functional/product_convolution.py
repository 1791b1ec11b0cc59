"""Product-convolution (spatially varying blur as a sum of K weighted convolutions).

Spec: operators_and_kernels.md §4 (Nagy–O'Leary 1998; Escande–Weiss 2017; deepinv
``SpaceVaryingBlur``).

* Input side:  ``y = Σ_k h_k ∗ (w_k ⊙ x)``;  adjoint ``x = Σ_k w_k ⊙ (h_k ⋆ y)``.
  With ``Σ_k w_k = 1`` and ``Σ h_k = 1`` the columns of A sum to 1 (flux conserved).
* Output side: ``y = Σ_k w_k ⊙ (h_k ∗ x)``;  adjoint ``x = Σ_k h_k ⋆ (w_k ⊙ y)``.
  With ``Σ_k w_k = 1`` and ``Σ h_k = 1`` the rows sum to 1 (constants preserved).

Here ``∗`` is :func:`~restorekit.functional.conv2d` (any boundary, true convolution
unless ``correlation=True``) and ``⋆`` its adjoint.

Shapes: ``x`` ``(B, C, H, W)``; ``filters`` ``(B|1, C|1, K, h, w)``; ``multipliers``
``(B|1, C|1, K, H_m, W_m)`` where ``(H_m, W_m)`` is the size of the side the weights sit
on: the input size for ``input`` weighting, the output size for ``output`` weighting
(they differ only for the ``valid`` boundary). Cost O(K·N·h·w) spatially, O(K·N log N)
with the FFT.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor

from restorekit.errors import InputError

from .convolution import _check_x, conv2d, conv2d_adjoint, conv_out_shape

Weighting = Literal["input", "output"]

__all__ = ["Weighting", "product_conv2d", "product_conv2d_adjoint"]


def _check(
    x: Tensor, filters: Tensor, multipliers: Tensor, weighting: str, boundary: str, x_is_input: bool
) -> tuple[Tensor, Tensor, tuple[int, int], tuple[int, int]]:
    """Validate shapes; returns filters/multipliers on x's device/dtype and the input and
    output spatial sizes."""
    if weighting not in ("input", "output"):
        raise InputError(f"weighting must be 'input' or 'output', got '{weighting}'")
    if not isinstance(filters, Tensor) or filters.dim() != 5:
        shape = tuple(filters.shape) if isinstance(filters, Tensor) else type(filters).__name__
        raise InputError(f"filters must have shape (B|1, C|1, K, h, w), got {shape}")
    if not isinstance(multipliers, Tensor) or multipliers.dim() != 5:
        shape = tuple(multipliers.shape) if isinstance(multipliers, Tensor) else type(multipliers).__name__
        raise InputError(f"multipliers must have shape (B|1, C|1, K, H, W), got {shape}")
    B, C = x.shape[:2]
    K = filters.shape[2]
    if multipliers.shape[2] != K:
        raise InputError(f"filters give K={K} components but multipliers give {multipliers.shape[2]}; they must match")
    for name, t in (("filters", filters), ("multipliers", multipliers)):
        if t.shape[0] not in (1, B) or t.shape[1] not in (1, C):
            raise InputError(
                f"{name} has batch/channels {tuple(t.shape[:2])}, which do not broadcast to the image's ({B}, {C})"
            )
    kh, kw = filters.shape[-2:]
    if x_is_input:
        in_hw = tuple(x.shape[-2:])
        out_hw = tuple(conv_out_shape(tuple(x.shape), (kh, kw), boundary)[-2:])
    else:
        out_hw = tuple(x.shape[-2:])
        in_hw = (out_hw[0] + kh - 1, out_hw[1] + kw - 1) if boundary == "valid" else out_hw
    want = in_hw if weighting == "input" else out_hw
    if tuple(multipliers.shape[-2:]) != want:
        raise InputError(
            f"multipliers are {tuple(multipliers.shape[-2:])} but {weighting}-side weights for boundary "
            f"'{boundary}' must be {want} (the {'input' if weighting == 'input' else 'output'} image size)"
        )
    filters = filters.to(device=x.device, dtype=x.dtype)
    multipliers = multipliers.to(device=x.device, dtype=x.dtype)
    return filters, multipliers, in_hw, out_hw  # type: ignore[return-value]


def _stack(t: Tensor, filters: Tensor, B: int, C: int) -> tuple[Tensor, Tensor]:
    """Fold ``(B, C, K, H, W)`` into ``(B, C·K, H, W)`` and the filters into
    ``(B|1, C·K, h, w)`` so that one grouped convolution handles all K components."""
    K = filters.shape[2]
    kb, kh, kw = filters.shape[0], filters.shape[-2], filters.shape[-1]
    t = t.expand(B, C, K, *t.shape[-2:]).reshape(B, C * K, *t.shape[-2:])
    f = filters.expand(kb, C, K, kh, kw).reshape(kb, C * K, kh, kw)
    return t, f


def product_conv2d(
    x: Tensor,
    filters: Tensor,
    multipliers: Tensor,
    weighting: str = "output",
    boundary: str = "circular",
    correlation: bool = False,
    method: str = "auto",
) -> Tensor:
    """Product-convolution ``A x`` (see module docstring for both weighting sides).

    Args:
        x: ``(B, C, H, W)``.
        filters: ``(B|1, C|1, K, h, w)``, the PSFs ``h_k``.
        multipliers: ``(B|1, C|1, K, H_m, W_m)``, the weights ``w_k``.
        weighting: ``input`` (``Σ h_k ∗ (w_k ⊙ x)``) or ``output`` (``Σ w_k ⊙ (h_k ∗ x)``).
        boundary, correlation, method: as for :func:`~restorekit.functional.conv2d`.

    Returns:
        ``(B, C, H_out, W_out)``.
    """
    _check_x(x)
    filters, multipliers, _, out_hw = _check(x, filters, multipliers, weighting, boundary, x_is_input=True)
    B, C = x.shape[:2]
    K = filters.shape[2]
    if weighting == "input":
        z, f = _stack(multipliers * x[:, :, None], filters, B, C)
        out = conv2d(z, f, boundary=boundary, correlation=correlation, method=method)
        return out.reshape(B, C, K, *out_hw).sum(dim=2)
    z, f = _stack(x[:, :, None], filters, B, C)
    out = conv2d(z, f, boundary=boundary, correlation=correlation, method=method)
    return (out.reshape(B, C, K, *out_hw) * multipliers).sum(dim=2)


def product_conv2d_adjoint(
    y: Tensor,
    filters: Tensor,
    multipliers: Tensor,
    weighting: str = "output",
    boundary: str = "circular",
    correlation: bool = False,
    method: str = "auto",
) -> Tensor:
    """Exact adjoint of :func:`product_conv2d` with the same arguments.

    Args:
        y: ``(B, C, H_out, W_out)``.

    Returns:
        ``(B, C, H, W)``.
    """
    _check_x(y, "y")
    filters, multipliers, in_hw, _ = _check(y, filters, multipliers, weighting, boundary, x_is_input=False)
    B, C = y.shape[:2]
    K = filters.shape[2]
    if weighting == "input":
        z, f = _stack(y[:, :, None], filters, B, C)
        back = conv2d_adjoint(z, f, boundary=boundary, correlation=correlation, method=method)
        return (back.reshape(B, C, K, *in_hw) * multipliers).sum(dim=2)
    z, f = _stack(multipliers * y[:, :, None], filters, B, C)
    back = conv2d_adjoint(z, f, boundary=boundary, correlation=correlation, method=method)
    return back.reshape(B, C, K, *in_hw).sum(dim=2)



"""Analytic cost models of the RKR operator (operators_and_kernels.md §5, §6).

Counts are per pixel for one application of the reference form (3 colours by default).
They are models, not measurements; ``benchmarks/operators.py`` prints them beside the
measured times.
"""

from __future__ import annotations

__all__ = ["rkr_macs_per_pixel", "rkr_traffic_floats_per_pixel", "tile_halo_factor"]


def _check_j(num_kernels: int, colours: int) -> None:
    if not isinstance(num_kernels, int) or num_kernels < 0:
        raise ValueError(f"num_kernels (J) must be a non-negative int, got {num_kernels!r}")
    if not isinstance(colours, int) or colours < 1:
        raise ValueError(f"colours must be a positive int, got {colours!r}")


def tile_halo_factor(num_kernels: int, tile: int) -> float:
    """``(T + 2J)² / T²``: how much more input a ``T×T`` output tile reads (halo of J)."""
    if tile < 1:
        raise ValueError(f"tile must be a positive int, got {tile!r}")
    return (tile + 2 * num_kernels) ** 2 / tile**2


def rkr_traffic_floats_per_pixel(
    num_kernels: int, fused: bool, tile: int | None = None, colours: int = 3
) -> float:
    """Global-memory floats moved per pixel by one RKR application (spec §6).

    Unfused (every framework op materialised), per pixel with ``C`` colours:

    * per atom: pad (r C, w C) + row conv (r C, w C) + column conv (r C, w C) = 6C;
    * concat of the stack: 2C(J+1); Γ repeat-interleave: (J+1) + C(J+1);
    * multiply: 2C(J+1) + C(J+1); 1×1 mixing: C(J+1) + C.

    Total ``6CJ + (7C+1)(J+1) + C``, i.e. ``18J + 22(J+1) + 3`` = **865** at J = 21, C = 3.

    Fused (one kernel): read x (C) + Γ (J+1), write y (C): ``J + 1 + 2C`` = **28** at
    J = 21. With ``tile = T`` the x reads grow by the halo factor ``(T+2J)²/T²``
    (2.74 at T = 64, giving ≈ 33 floats/pixel).

    Args:
        num_kernels: J, the number of recursion steps.
        fused: the fused-kernel model (else the unfused framework-op model).
        tile: output tile side of the fused kernel (``None``: no halo overhead); ignored
            when ``fused`` is ``False``.
        colours: C (3 for RGB).
    """
    _check_j(num_kernels, colours)
    j, c = num_kernels, colours
    if not fused:
        return float(6 * c * j + (7 * c + 1) * (j + 1) + c)
    x_reads = c * (tile_halo_factor(j, tile) if tile is not None else 1.0)
    return x_reads + (j + 1) + c


def rkr_macs_per_pixel(num_kernels: int, colours: int = 3, include_weighting: bool = False) -> int:
    """Multiply-accumulates per pixel of one RKR application (spec §5).

    The recursion costs 6 MAC per step and colour (2 passes × 3 taps): ``6·J·C`` = **378**
    at J = 21, C = 3 (the paper's O(6NJ)). With ``include_weighting`` the reference-form
    weighting and 1×1 mixing add ``C·C(J+1)`` (3(J+1) per output colour).
    """
    _check_j(num_kernels, colours)
    macs = 6 * num_kernels * colours
    if include_weighting:
        macs += colours * colours * (num_kernels + 1)
    return macs

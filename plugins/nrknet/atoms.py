"""RKR atoms: 3-tap filters from free logits, and the 2-D kernels they compose.

NRKNet (Quan, Wu, Ji, CVPR 2023) eq. 2: ``A_j = A_{j−1} ⊗ (a_j a_jᵀ)``; see
``specs/nrknet.md`` §1. Atoms are applied by correlation (``F.conv2d``, as the official
code does), and composing correlations composes their taps by full 2-D convolution, so
the term kernels below are the correlation taps of each term (for the symmetric
reference-form atoms they equal the convolution PSF).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["coefficient_contract", "compose_term_kernels", "num_coefficients", "num_recursions", "paper_atoms", "reference_atoms"]


def num_recursions(form: str, num_kernels: int) -> int:
    """R, the recursion steps of the blur stack: ``J`` in the reference form (B_1..B_J after
    the identity B_0), ``J − 1`` in the paper form (Δ, then J − 1 recursions)."""
    return num_kernels if form == "reference" else num_kernels - 1


def num_coefficients(form: str, num_kernels: int) -> int:
    """G, the Γ channels: ``R + 1`` terms, i.e. ``J + 1`` reference (Γ_0 weights the
    identity) and ``J`` paper. The one source of this rule for the estimator and the operator."""
    return num_recursions(form, num_kernels) + 1


def coefficient_contract(form: str, num_kernels: int, num_scales: int | None = None):
    """The :class:`restorekit.PieceSpec` of Γ for a recursive-kernel basis of ``form``/``num_kernels``."""
    from restorekit import PieceSpec

    return PieceSpec(
        representation=f"nrknet.rkr/{form}/J={num_kernels}",
        channels=num_coefficients(form, num_kernels),
        scales=num_scales,
        hint="give nrknet.coefficients and nrknet.rkr the same form and num_kernels",
    )


def reference_atoms(kernels: Tensor, channels: int) -> Tensor:
    """Atoms of the reference-code form (official ``FullRKR``), per colour.

    ``kernels`` ``(C·J, 1, 1, 2)`` holds logits ``[p, q]`` of atom ``j`` for colour ``c``
    at row ``C·j + c``; they are reflect-padded to ``[p, q, p]`` and soft-maxed, giving the
    symmetric, positive, unit-sum taps ``(e^p, e^q, e^p) / (2e^p + e^q)``.

    Returns:
        ``(J, C, 3)``.
    """
    logits = kernels.reshape(-1, channels, 2)  # (J, C, 2)
    padded = torch.cat([logits, logits[..., :1]], dim=-1)  # [p, q, p]
    return torch.softmax(padded, dim=-1)


def paper_atoms(logits: Tensor) -> Tensor:
    """Atoms of the paper form: softmax over 3 free logits (Sec. 3.3). ``(J, 3) → (J, 3)``."""
    return torch.softmax(logits, dim=-1)


def compose_term_kernels(atoms: Tensor) -> Tensor:
    """The 2-D kernel of every term ``B_0 … B_R`` of the recursion.

    ``K_0 = δ``, ``K_r = K_{r−1} ∗ (a_r a_rᵀ)`` (full 2-D convolution; the outer product
    ``a aᵀ`` is the separable row+column atom), all centred in a common
    ``(2R+1) × (2R+1)`` window. Away from the border (≥ r pixels), term ``r`` of the
    recursion equals correlation with ``K_r``.

    Args:
        atoms: ``(R, C, 3)``.

    Returns:
        ``(R+1, C, 2R+1, 2R+1)``.
    """
    r_steps, c, _ = atoms.shape
    size = 2 * r_steps + 1
    current = torch.zeros(1, c, size, size, dtype=atoms.dtype, device=atoms.device)
    current[:, :, r_steps, r_steps] = 1.0
    terms = [current[0]]
    for r in range(r_steps):
        a = atoms[r]  # (C, 3)
        outer = a[:, :, None] * a[:, None, :]  # (C, 3, 3) = a aᵀ
        # full convolution with a 3×3 kernel inside a fixed window: pad 1, conv2d with the
        # flipped taps (the support never reaches the window edge, so nothing is lost).
        current = F.conv2d(F.pad(current, (1, 1, 1, 1)), outer.flip(-1, -2)[:, None], groups=c)
        terms.append(current[0])
    return torch.stack(terms)

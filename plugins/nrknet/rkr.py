"""``nrknet.rkr``: the recursive kernel representation (RKR) operator of NRKNet.

Quan, Wu, Ji, "Neumann Network with Recursive Kernels for Single Image Defocus
Deblurring", CVPR 2023, Sec. 3.1 (eqs. 1–5) and Sec. 3.3 (eq. 11); official code
csZcWu/NRKNet ``symcm.py`` (``FullRKR``) and ``layers.py`` (``SumLayer``). See
``specs/nrknet.md`` §1 and ``specs/operators_and_kernels.md`` §5–§6.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Sequence

import torch
from torch import Tensor, nn

from restorekit import kernels as rk_kernels
from restorekit.errors import ConfigError, InputError
from restorekit.interfaces import Operator

from .atoms import coefficient_contract, compose_term_kernels, num_coefficients, num_recursions, paper_atoms, reference_atoms

__all__ = ["RecursiveKernelOperator"]

Coefficients = Tensor | Sequence[Tensor]


class RecursiveKernelOperator(Operator):
    """Spatially varying blur ``D(Y) = Σ_j Γ_j ⊙ (Y ⊗ A_j)`` by recursive kernels (output side).

    The recursion (paper eq. 5) is ``B_0 Y = Y``, ``B_r Y = A_r(B_{r−1} Y)`` where each step
    reflect-pads by 1 and applies the separable 3×3 atom ``a_r a_rᵀ`` (1×3 row pass, then
    3×1 column pass); term ``r`` therefore has a ``(2r+1)²`` kernel. Per-pixel weights Γ
    multiply the terms, so rows of ``D`` sum to ``Σ_j Γ_j`` (``weighting = "output"``).

    Two forms (``form``):

    * ``"reference"`` (default; loads the official checkpoints), ``num_kernels = J``:
      ``R = J`` recursion steps with per-colour symmetric atoms
      (``kernels`` ``(C·J, 1, 1, 2)``, logits ``[p, q]`` → softmax ``[p, q, p]``, init
      U[0, 1) as in ``FullRKR``), Γ with ``G = J + 1`` channels (Γ_0 weights the identity),
      and a 1×1 mixing conv ``C(J+1) → C`` with bias over the kernel-major, colour-minor
      stack (``SumLayer``, PyTorch default init as in the released code):
      ``D(Y)_c = Σ_j Σ_{c'} W[c, C·j + c'] · Γ_j ⊙ (B_j Y)_{c'} + b_c``. This is affine
      (``linear = False``): :meth:`A` includes ``b``, :meth:`A_linear` does not,
      :attr:`offset` is ``b``. At J = 21, C = 3: 126 atom logits + 201 mixing parameters,
      Γ has 22 channels, the largest kernel is 43×43.
    * ``"paper"`` (paper eqs. 2 and 4), ``num_kernels = J``: ``logits`` ``(J, 3)``, softmax
      over 3 free taps, ONE atom set shared by all colours, ``A_1 = Δ`` — so the stack is
      ``B_0 Y = Y`` plus ``J − 1`` recursions with atoms ``a_2 … a_J``; ``a_1`` is stored
      but unused (**our choice**, spec nrknet.md §1.1, keeps the paper's 3J = 60
      parameters). Γ has ``G = J`` channels, plain sum (no mixing, no bias), linear. At
      J = 20 the largest kernel is 39×39. Logits are initialised U[0, 1) like the
      reference form (**our choice**).

    Official state-dict mapping (reference form; see :attr:`OFFICIAL_KEYS`):
    ``GCM.kernels`` → ``kernels`` (same shape and row order ``3j + c``),
    ``SummationLayer.conv.weight`` → ``mixing.weight`` ``(3, 3(J+1), 1, 1)``,
    ``SummationLayer.conv.bias`` → ``mixing.bias`` ``(3,)``.

    Call parameters: ``coefficients`` Γ, a tensor ``(B or 1, G, H, W)``, or a list/tuple
    of per-scale tensors from which the one matching the spatial size of ``x`` is used.
    The atoms, mixing and Γ are cast to ``x``'s dtype. The work is done by the
    :mod:`restorekit.kernels` dispatcher (``backend``: ``auto`` = Triton on CUDA when
    available, else the PyTorch reference). The adjoint uses the Triton backend only if a
    Triton adjoint exists, otherwise the reference (backward Horner recursion, §1.3).

    Args:
        form: ``"reference"`` (official code) or ``"paper"``.
        num_kernels: J (21 for the official reference form, 20 in the paper).
        channels: colour channels C of the images (3 for RGB).
        backend: kernel backend, ``"auto" | "triton" | "reference"``.

    Choices:
        - Reflect padding by 1 at every recursion step (our choice, inherited from the official
          ``FullRKR``; the paper's eq. 5 does not say how borders are handled). A padding of
          the whole image once would give a slightly different operator near the borders.
        - Paper form: Γ-weighted terms combined by a plain sum (our choice, spec nrknet.md §1.1;
          paper Sec. 3.3 speaks of "a 1×1 convolution" that eq. 4/11 do not contain, so the
          linear plain sum of eq. 11 is implemented; the 1×1 mixing conv with bias is the
          reference form's, from the official ``SumLayer``).
        - Paper form: ``A_1 = Δ`` and ``a_1`` stored but unused, keeping 3J parameters (our
          choice, spec nrknet.md §1.1); logits initialised U[0, 1) in both forms (the official
          ``FullRKR`` init; our choice for the paper form).
        - Reference form: per-colour symmetric atoms, G = J + 1, 1×1 mixing with bias, PyTorch
          default init of the mixing (official code; loads the released checkpoints).
        - Row pass then column pass per step, atoms applied by correlation (official code; for
          symmetric atoms it equals the convolution).
    """

    requires = frozenset({"coefficients"})
    weighting: ClassVar[str] = "output"
    linear: bool = False  # set per instance: True for the paper form

    OFFICIAL_KEYS: ClassVar[dict[str, str]] = {
        "GCM.kernels": "kernels",
        "SummationLayer.conv.weight": "mixing.weight",
        "SummationLayer.conv.bias": "mixing.bias",
    }
    """Official ``NRKNet`` state-dict key → this module's key (reference form)."""

    def __init__(
        self,
        form: Literal["paper", "reference"] = "reference",
        num_kernels: int = 21,
        channels: int = 3,
        backend: Literal["auto", "triton", "reference"] = "auto",
    ) -> None:
        super().__init__()
        if form not in ("paper", "reference"):
            raise ConfigError(f"nrknet.rkr: form must be 'paper' or 'reference', got {form!r}")
        if not isinstance(num_kernels, int) or isinstance(num_kernels, bool) or num_kernels < 1:
            raise ConfigError(f"nrknet.rkr: num_kernels must be an int >= 1 (21 official, 20 paper), got {num_kernels!r}")
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise ConfigError(f"nrknet.rkr: channels must be an int >= 1 (3 for RGB), got {channels!r}")
        if backend not in rk_kernels.backends_for("rkr_apply"):
            raise ConfigError(f"nrknet.rkr: backend must be one of {list(rk_kernels.backends_for('rkr_apply'))}, got {backend!r}")
        self.form = form
        self.num_kernels = num_kernels
        self.channels = channels
        self.backend = backend
        self.linear = form == "paper"
        if form == "reference":
            self.kernels = nn.Parameter(torch.rand(channels * num_kernels, 1, 1, 2))
            self.mixing = nn.Conv2d(channels * num_coefficients(form, num_kernels), channels, kernel_size=1, bias=True)
        else:
            self.logits = nn.Parameter(torch.rand(num_kernels, 3))

    # -- structure ----------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        """R, the number of recursion steps (J reference, J − 1 paper)."""
        return num_recursions(self.form, self.num_kernels)

    @property
    def num_coefficients(self) -> int:
        """G, the number of Γ channels (J + 1 reference, J paper)."""
        return num_coefficients(self.form, self.num_kernels)

    def requires_spec(self) -> dict:
        """Accepted Γ: representation ``nrknet.rkr/<form>/J=<num_kernels>`` with G channels (any number of scales)."""
        return {"coefficients": coefficient_contract(self.form, self.num_kernels)}

    @property
    def kernel_size(self) -> int:
        """Side of the largest term kernel, ``2R + 1`` (43 at J = 21 reference, 39 at J = 20 paper)."""
        return 2 * self.num_steps + 1

    def atoms(self) -> Tensor:
        """The taps of each recursion step, ``(R, C, 3)`` (row and column pass use the same).

        Paper form: ``a_2 … a_J`` broadcast over colours (``a_1`` belongs to ``A_1 = Δ``).
        """
        if self.form == "reference":
            return reference_atoms(self.kernels, self.channels)
        return paper_atoms(self.logits)[1:, None, :].expand(-1, self.channels, 3)

    def all_atoms(self) -> Tensor:
        """Every stored atom: ``(J, C, 3)`` reference, ``(J, 3)`` paper (including the unused ``a_1``)."""
        if self.form == "reference":
            return reference_atoms(self.kernels, self.channels)
        return paper_atoms(self.logits)

    def term_kernels(self) -> Tensor:
        """The composed 2-D kernel of each term, ``(G, C, 2R+1, 2R+1)`` (centred, zero-padded).

        ``K_0 = δ``, ``K_r = K_{r−1} ∗ a_r a_rᵀ``; correlation taps (see :mod:`.atoms`).
        """
        return compose_term_kernels(self.atoms())

    def mixing_matrix(self) -> Tensor | None:
        """``W`` ``(C, C·(J+1))`` of the reference form, ``None`` for the paper form (plain sum)."""
        if self.form == "reference":
            return self.mixing.weight[:, :, 0, 0]
        return None

    @property
    def offset(self) -> Tensor:
        """The constant part of ``A``: ``b`` as a ``(1, C, 1, 1)`` map (zeros in the paper form)."""
        if self.form == "reference":
            return self.mixing.bias.reshape(1, self.channels, 1, 1)
        return torch.zeros(1, self.channels, 1, 1, dtype=self.logits.dtype, device=self.logits.device)

    def explicit_kernels(self, coefficients: Coefficients, x: Tensor | None = None) -> Tensor:
        """Per-pixel kernels of the linear part (paper eq. 1), for tests and debugging.

        ``K_{h,w}[o, c] = Σ_j Γ_j[h,w] · W[o, C·j + c] · K_j[c]`` (paper form: ``W`` = per-colour
        identity). Away from the border (≥ R pixels),
        ``A_linear(x)[b, o] = Σ_c pixel_filter_apply(x[:, c:c+1], K[:, o, c:c+1])``.

        Memory is ``B·C²·(2R+1)²·H·W`` values: only for small images.

        Args:
            coefficients: Γ as for :meth:`A`.
            x: optional image, used to pick the scale from a list of Γ.

        Returns:
            ``(B, C, C, (2R+1)², H, W)`` correlation taps (``u·s + v`` order).
        """
        ref_shape = x.shape if x is not None else None
        gamma = self._gamma(coefficients, ref_shape)
        terms = self.term_kernels().to(dtype=gamma.dtype)  # (G, C, S, S)
        g, c, s, _ = terms.shape
        w = self.mixing_matrix()
        if w is None:
            wm = torch.eye(c, dtype=gamma.dtype, device=gamma.device)[:, None, :].expand(c, g, c)
        else:
            wm = w.to(dtype=gamma.dtype).reshape(c, g, c)  # [o, j, c]
        return torch.einsum("bjhw,ojc,jcs->bocshw", gamma, wm, terms.reshape(g, c, s * s))

    # -- input checks -------------------------------------------------------------------
    def _describe(self) -> str:
        return f"nrknet.rkr (form={self.form}, num_kernels={self.num_kernels})"

    def _check_image(self, x: Tensor, name: str) -> None:
        if not isinstance(x, Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f"{self._describe()}: {name} must have shape (B, {self.channels}, H, W), got {shape}")
        if not x.is_floating_point():
            raise InputError(f"{self._describe()}: {name} must be floating point, got {x.dtype}; use .float()")
        if x.shape[1] != self.channels:
            raise InputError(
                f"{self._describe()}: {name} has {x.shape[1]} channels but the operator was built with "
                f"channels={self.channels}; set channels: {x.shape[1]} or convert the image"
            )
        if x.shape[-2] < 2 or x.shape[-1] < 2:
            raise InputError(f"{self._describe()}: {name} is {tuple(x.shape[-2:])}; reflect padding needs H, W >= 2")

    def _gamma(self, coefficients: Coefficients | None, ref_shape: Sequence[int] | None) -> Tensor:
        """Pick and check Γ ``(B or 1, G, H, W)`` for an image of shape ``ref_shape``."""
        g = self.num_coefficients
        if coefficients is None:
            raise InputError(
                f"{self._describe()} needs coefficients=Γ of shape (B, {g}, H, W); pass it to A()/A_adjoint() "
                f"or set it with update_parameters(coefficients=...)"
            )
        if isinstance(coefficients, (list, tuple)):
            if not coefficients or not all(isinstance(t, Tensor) for t in coefficients):
                raise InputError(f"{self._describe()}: coefficients must be a tensor or a non-empty list of tensors")
            if ref_shape is None:
                raise InputError(f"{self._describe()}: with a list of per-scale coefficients, give the image to pick the scale")
            matches = [t for t in coefficients if t.dim() == 4 and tuple(t.shape[-2:]) == tuple(ref_shape[-2:])]
            if not matches:
                sizes = [tuple(t.shape[-2:]) for t in coefficients]
                raise InputError(
                    f"{self._describe()}: none of the per-scale coefficients {sizes} matches the image size "
                    f"{tuple(ref_shape[-2:])}; pass the Γ of this scale"
                )
            gamma = matches[0]
        elif isinstance(coefficients, Tensor):
            gamma = coefficients
        else:
            raise InputError(f"{self._describe()}: coefficients must be a tensor (B, {g}, H, W), got {type(coefficients).__name__}")
        if gamma.dim() != 4:
            raise InputError(f"{self._describe()}: coefficients must have shape (B, {g}, H, W), got {tuple(gamma.shape)}")
        if not gamma.is_floating_point():
            raise InputError(f"{self._describe()}: coefficients must be floating point, got {gamma.dtype}")
        if gamma.shape[1] != g:
            rule = "J + 1 (one per term B_0..B_J)" if self.form == "reference" else "J (Δ plus J−1 recursions)"
            raise InputError(
                f"{self._describe()}: coefficients have {gamma.shape[1]} channels, expected G = {rule} = {g}; "
                f"make the coefficient estimator's output channels match num_kernels and form"
            )
        if ref_shape is not None:
            if tuple(gamma.shape[-2:]) != tuple(ref_shape[-2:]):
                raise InputError(
                    f"{self._describe()}: coefficients are {tuple(gamma.shape[-2:])} but the image is "
                    f"{tuple(ref_shape[-2:])}; use the Γ of the same scale"
                )
            if gamma.shape[0] not in (1, ref_shape[0]):
                raise InputError(
                    f"{self._describe()}: coefficients have batch {gamma.shape[0]}, the image {ref_shape[0]}; use 1 or {ref_shape[0]}"
                )
        return gamma

    def _prepare(self, x: Tensor, name: str, coefficients: Coefficients | None, params: dict[str, Any]) -> Tensor:
        if params:
            raise InputError(
                f"{self._describe()}: unknown parameter(s) {sorted(params)}; the RKR operator takes only coefficients=Γ"
            )
        self._check_image(x, name)
        resolved = self._resolve({"coefficients": coefficients})
        gamma = self._gamma(resolved.get("coefficients"), x.shape)
        if gamma.device != x.device:
            raise InputError(f"{self._describe()}: coefficients are on {gamma.device} but {name} is on {x.device}")
        return gamma.to(dtype=x.dtype)

    def _atoms_for(self, x: Tensor) -> Tensor:
        return self.atoms().to(dtype=x.dtype).contiguous()

    # -- the operator -------------------------------------------------------------------
    def _run(self, x: Tensor, coefficients: Coefficients | None, params: dict[str, Any], with_bias: bool) -> Tensor:
        gamma = self._prepare(x, "x", coefficients, params)
        w = self.mixing_matrix()
        weight = None if w is None else w.to(dtype=x.dtype)
        bias = self.mixing.bias.to(dtype=x.dtype) if (with_bias and self.form == "reference") else None
        return rk_kernels.rkr_apply(x, self._atoms_for(x), gamma, weight, bias, backend=self.backend)

    def A(self, x: Tensor, coefficients: Coefficients | None = None, **params: Any) -> Tensor:
        """``D(x)`` ``(B, C, H, W) → (B, C, H, W)``, including the bias in the reference form."""
        return self._run(x, coefficients, params, with_bias=True)

    def A_linear(self, x: Tensor, coefficients: Coefficients | None = None, **params: Any) -> Tensor:
        """The linear part ``D_lin(x)`` (no bias)."""
        return self._run(x, coefficients, params, with_bias=False)

    def A_adjoint(self, y: Tensor, coefficients: Coefficients | None = None, **params: Any) -> Tensor:
        """``D_linᵀ y`` by the backward Horner recursion (nrknet.md §1.3), ``(B, C, H, W)``."""
        gamma = self._prepare(y, "y", coefficients, params)
        w = self.mixing_matrix()
        weight = None if w is None else w.to(dtype=y.dtype)
        backend = self.backend
        if backend != "reference" and not rk_kernels.triton_available("rkr_apply_adjoint"):
            backend = "reference"
        return rk_kernels.rkr_apply_adjoint(y, self._atoms_for(y), gamma, weight, backend=backend)

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return (
            f"form={self.form}, num_kernels={self.num_kernels}, channels={self.channels}, "
            f"G={self.num_coefficients}, backend={self.backend}"
        )

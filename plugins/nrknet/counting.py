"""Parameter and MAC counts of NRKNet (spec nrknet.md §5–6).

* :func:`parameter_breakdown` — parameters per part (backbone, APU head, ConvLSTM, atoms,
  mixing); BN running statistics are buffers and are not counted.
* :func:`count_macs` — multiply-accumulates of one inference pass at a given resolution,
  from forward hooks on the Γ estimator run on the ``meta`` device (shapes only, no
  arithmetic, so 1280×720 costs milliseconds) plus the RKR operator counted analytically
  from the Neumann iteration counts. Two conventions:

  - **conventional**: a conv costs ``out-pixels × C_in/groups × k² × C_out``; a transposed
    conv ``in-pixels × C_in/groups × k² × C_out`` (each input pixel scatters one k×k
    stencil);
  - **thop** (Lyken17/pytorch-OpCounter ``count_convNd``): every conv module costs
    ``out-numel × C_in/groups × k²`` — which over-counts ``ConvTranspose2d`` by
    ``stride² = 4`` — and functional ops (``F.conv2d`` of the RKR recursion,
    ``F.interpolate``) are invisible. The official script prints ``thop / 2``; thop's
    element-wise counts of BatchNorm/AvgPool (version-dependent) are reported separately
    in ``thop_elementwise`` and not included.

Not a thop re-implementation: thop is not a dependency and its counts of non-conv layers
change between versions; the conv rule above is the part that matters (> 99.9 %).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from .atoms import num_coefficients, num_recursions
from .coefficients import RKRCoefficientEstimator
from .pyramid import nearest_pyramid

__all__ = ["MacReport", "parameter_breakdown", "count_macs", "rkr_macs_per_pixel"]


def _numel(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_breakdown(estimator: RKRCoefficientEstimator, operator: nn.Module | None = None) -> dict[str, int]:
    """Parameters per part: ``backbone`` (U-Net without the APU), ``apu_head`` (conv + BN
    affine), ``convlstm``, ``atoms`` and ``mixing`` (from the ``nrknet.rkr`` operator, 0
    without one), and ``total``.

    Reference form, J = 21: 5,891,776 + 12,716 + 189,288 + 126 + 201 = 6,094,107.
    """
    backbone = sum(_numel(m) for m in (estimator.feat_extract, estimator.Encoder, estimator.Decoder, estimator.bottleneck))
    parts = {
        "backbone": backbone,
        "apu_head": _numel(estimator.APU.conv),
        "convlstm": _numel(estimator.APU.conv_atten),
        "atoms": 0,
        "mixing": 0,
    }
    if operator is not None:
        for name, p in operator.named_parameters():
            parts["mixing" if name.startswith("mixing") else "atoms"] += p.numel()
    parts["total"] = sum(parts.values())
    return parts


def rkr_macs_per_pixel(form: str, num_kernels: int, channels: int = 3) -> tuple[int, int]:
    """``(recursion, mixing)`` MACs per pixel of one RKR application.

    Recursion: ``6·R·C`` (R = J reference, J − 1 paper: a 3-tap row and a 3-tap column pass
    per step and colour; 378 at J = 21, C = 3). Mixing: the reference form's 1×1 conv
    ``C(J+1) → C`` = ``C²(J+1)`` (198 at J = 21); the paper form's plain sum is element-wise
    (0 here, like the Γ multiplication in both forms).
    """
    steps = num_recursions(form, num_kernels)
    mixing = channels * channels * num_coefficients(form, num_kernels) if form == "reference" else 0
    return 6 * steps * channels, mixing


@dataclass
class MacReport:
    """MACs of one inference pass (all values are counts, not G)."""

    conventional: int
    thop: int
    rkr: int
    per_scale_conventional: list[int] = field(default_factory=list)  # finest first
    thop_elementwise: int = 0

    @property
    def thop_half(self) -> float:
        """The figure the official script prints (thop / 2): the paper's 553 G."""
        return self.thop / 2


def count_macs(
    estimator: RKRCoefficientEstimator,
    height: int,
    width: int,
    iterations: list[int] = [1, 2, 3],  # noqa: B006 - not mutated
    form: str | None = None,
    num_kernels: int | None = None,
    channels: int = 3,
) -> MacReport:
    """MACs of NRKNet inference at ``height × width`` (spec §6).

    The estimator is deep-copied to the ``meta`` device and run once; forward hooks record
    every Conv2d/ConvTranspose2d call. The RKR operator (form and J default to the
    estimator's) is applied ``iterations[t]`` times at scale ``t`` (H/2^t): its recursion
    goes to ``rkr`` (conventional total excludes it, as in the spec's 867.7 G), its 1×1
    mixing conv is a conv module in the official code and counts in both conventions.

    Returns:
        :class:`MacReport`; at 1280×720 (official): conventional ≈ 867.7 G, thop/2 ≈ 552.7 G,
        rkr ≈ 0.59 G.
    """
    form = form or estimator.form
    num_kernels = num_kernels or estimator.num_kernels
    meta = copy.deepcopy(estimator).to("meta")
    records: list[tuple[int, int, int]] = []  # (scale index, conventional, thop)
    elementwise: list[int] = []
    current_scale = [0]

    def conv_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0]
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):
            conventional = x.numel() * (module.out_channels // module.groups) * k  # in-pixels·C_in·k²·C_out/groups
            thop = output.numel() * (module.in_channels // module.groups) * k
        else:
            conventional = thop = output.numel() * (module.in_channels // module.groups) * k
        records.append((current_scale[0], conventional, thop))

    def elementwise_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        # thop: BatchNorm 2·numel (affine), AvgPool one op per output element
        elementwise.append(2 * inputs[0].numel() if isinstance(module, nn.BatchNorm2d) else output.numel())

    def scale_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        current_scale[0] = inputs[0].shape[-2]

    handles = []
    for m in meta.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, (nn.BatchNorm2d, nn.AvgPool2d)):
            handles.append(m.register_forward_hook(elementwise_hook))
    handles.append(meta.feat_extract[0].register_forward_pre_hook(scale_hook))
    from restorekit import BlurEstimate

    image = torch.empty(1, meta.in_channels, height, width, device="meta")
    estimate = BlurEstimate(map=torch.empty(1, 1, height, width, device="meta")) if meta.condition_on_map else BlurEstimate()
    try:
        meta(image, None, estimate, {})
    finally:
        for h in handles:
            h.remove()

    sizes = [y.shape[-2:] for y in nearest_pyramid(torch.empty(1, 1, height, width, device="meta"), meta.num_scales)]
    heights = [int(s[0]) for s in sizes]
    per_scale = [sum(c for s, c, _ in records if s == h) for h in heights]
    recursion, mixing = rkr_macs_per_pixel(form, num_kernels, channels)
    rkr_total = 0
    mixing_total = 0
    for t, (h, w) in enumerate(sizes):
        n = iterations[t] if t < len(iterations) else 0
        rkr_total += n * recursion * int(h) * int(w)
        mixing_total += n * mixing * int(h) * int(w)
        per_scale[t] += n * mixing * int(h) * int(w)
    return MacReport(
        conventional=sum(c for _, c, _ in records) + mixing_total,
        thop=sum(t for _, _, t in records) + mixing_total,
        rkr=rkr_total,
        per_scale_conventional=per_scale,
        thop_elementwise=sum(elementwise),
    )

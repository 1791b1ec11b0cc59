"""Parameter and MAC counts of AIBNet (specs/aibnet.md §7), without a full-resolution pass.

:func:`count_macs` runs a component on the ``meta`` device (shapes only, no arithmetic, so
256×256 costs milliseconds) with forward hooks that record

* every ``nn.Conv2d``: ``out-numel × C_in/groups × k²`` (bias adds not counted);
* the attention matrix products, from the inputs of each :class:`~.blocks.SFEM` and
  :class:`~.blocks.HFSBlock` (``c = h·d`` channels, ``P = HW`` pixels): SFEM two
  ``Q̂K̂ᵀ`` and one ``(att₁ − α·att₂)V``, ``3·c·d·P``; HFS one ``Q̂K̂ᵀ`` and one
  ``(Σλ_i M_i)V``, ``2·c·d·P``;
* the HFS Decoupler's per-sample k×k low-pass filter (a functional grouped conv),
  ``c·k²·P``.

Element-wise work (LayerNorm, SimpleGate, softmax, masking, residual adds) is not counted,
as in thop/fvcore-style conv + matmul counts. :func:`analytic_subdecoder_macs` is the same
count in closed form (the tests check the two agree).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .blocks import SFEM, HFSBlock, HighFrequencyDecoupler

__all__ = ["MacReport", "analytic_subdecoder_macs", "count_macs", "count_parameters"]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@dataclass
class MacReport:
    """MACs of one forward pass, split by kind (counts, not G)."""

    conv: int = 0
    attention: int = 0
    decoupler: int = 0
    per_module: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.conv + self.attention + self.decoupler


def count_macs(module: nn.Module, *inputs: Tensor, **kwargs) -> MacReport:
    """MACs of ``module(*inputs, **kwargs)``, counted by forward hooks on a ``meta`` copy.

    ``inputs`` may be real or ``meta`` tensors (only their shapes matter); tensors inside
    :class:`restorekit.Features` are moved too.
    """
    meta = copy.deepcopy(module).to("meta").eval()
    report = MacReport()

    def add(kind: str, name: str, macs: int) -> None:
        setattr(report, kind, getattr(report, kind) + int(macs))
        report.per_module[name] = report.per_module.get(name, 0) + int(macs)

    handles = []
    for name, m in meta.named_modules():
        if isinstance(m, nn.Conv2d):
            def conv_hook(mod, args, out, name=name):
                k = mod.kernel_size[0] * mod.kernel_size[1]
                add("conv", name, out.numel() * (mod.in_channels // mod.groups) * k)
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, SFEM):
            def sfem_hook(mod, args, out, name=name):
                b, c, h, w = args[0].shape
                add("attention", name, 3 * b * c * mod.head_dim * h * w)
            handles.append(m.register_forward_hook(sfem_hook))
        elif isinstance(m, HFSBlock):
            def hfs_hook(mod, args, out, name=name):
                b, c, h, w = args[0].shape
                add("attention", name, 2 * b * c * mod.head_dim * h * w)
            handles.append(m.register_forward_hook(hfs_hook))
        if isinstance(m, HighFrequencyDecoupler):
            def dec_hook(mod, args, out, name=name):
                b, c, h, w = args[0].shape
                add("decoupler", name, b * c * mod.kernel_size**2 * h * w)
            handles.append(m.register_forward_hook(dec_hook))

    def to_meta(x):
        from restorekit import Features

        if isinstance(x, Tensor):
            return x.to("meta")
        if isinstance(x, Features):
            return Features(maps=[t.to("meta") for t in x.maps], channels=list(x.channels), strides=list(x.strides))
        return x

    try:
        with torch.no_grad():
            meta(*[to_meta(x) for x in inputs], **{k: to_meta(v) for k, v in kwargs.items()})
    finally:
        for h in handles:
            h.remove()
    return report


def analytic_subdecoder_macs(
    height: int,
    width: int,
    base: int = 64,
    num_blocks: int = 8,
    num_masks: int = 4,
    head_dim: int = 64,
    out_channels: int = 3,
    sfem: bool = True,
    hfs: bool = True,
    decoupler_taps: int = 72,
    decoupler_kernel: int = 3,
) -> MacReport:
    """The MACs of one sub-decoder at ``height × width`` (multiples of 16), in closed form.

    Per level of width ``c`` at ``P`` pixels: up ``(2c)·(4c)·P/4 = 2c²P``; SFDH: SCA branch
    ``(3c² + 18c)P + c²`` (the SCA 1×1 acts on one pooled pixel), FFN ``(3c² + 18c)P``, SFEM
    ``(6c² + 45c)P`` convs + ``3·c·d·P`` attention; HFS ``(3c² + 27c)P`` convs +
    ``c·G·k²`` (pooled 1×1) + ``2·c·d·P`` attention + ``c·k²·P`` Decoupler filter; head
    ``base·9·out·HW``. ``d = min(head_dim, c)``. ``num_masks`` does not change the count
    (``Σλ_i M_i`` is formed before the product with V).
    """
    del num_masks  # documented: the masks share one product with V
    report = MacReport()
    for i in range(LEVELS_ANALYTIC):
        c = base * 2**i
        p = (height // 2**i) * (width // 2**i)
        d = min(head_dim, c)
        conv = 2 * c * c * p  # up: 1×1 (2c → 4c) at P/4 pixels
        per_block = (3 * c * c + 18 * c) * p + c * c + (3 * c * c + 18 * c) * p
        att = 0
        if sfem:
            per_block += (6 * c * c + 45 * c) * p
            att += 3 * c * d * p * num_blocks
        conv += num_blocks * per_block
        dec = 0
        if hfs:
            conv += (3 * c * c + 27 * c) * p + c * decoupler_taps
            att += 2 * c * d * p
            dec = c * decoupler_kernel**2 * p
        report.conv += conv
        report.attention += att
        report.decoupler += dec
    report.conv += base * 9 * out_channels * height * width
    return report


LEVELS_ANALYTIC = 4

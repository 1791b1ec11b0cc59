"""Parameter and MAC counting for the DRAMNet/AdaRevD reference numbers (specs/dramnet.md §3.3).

MACs are counted as AdaRevD's numbers are (conv + linear only, thop's convention): a
``Conv2d``/``ConvTranspose2d`` costs ``out_elements × in_channels/groups × kh × kw`` (per
input element for transposed convs), a ``Linear`` ``out_elements × in_features``. The
forward runs on fake tensors (``torch._subclasses.fake_tensor.FakeTensorMode``: shapes and
dtypes only, on the CPU device type so that autocast regions work), so full-size models are
counted without allocating or computing anything.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

__all__ = ["count_macs", "count_parameters", "subdecoder_macs"]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def _hook(store: list[int]) -> Callable[[nn.Module, Any, Any], None]:
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            store.append(output.numel() * (module.in_channels // module.groups) * kh * kw)
        elif isinstance(module, nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            store.append(inputs[0].numel() * (module.out_channels // module.groups) * kh * kw)
        elif isinstance(module, nn.Linear):
            store.append(output.numel() * module.in_features)

    return hook


def count_macs(module: nn.Module, run: Callable[[nn.Module], Any]) -> int:
    """MACs of the conv/linear layers of ``module`` during ``run(module)`` (any device, ``meta`` included)."""
    store: list[int] = []
    handles = [m.register_forward_hook(_hook(store)) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            run(module)
    finally:
        for h in handles:
            h.remove()
    return int(sum(store))


def subdecoder_macs(channels: list[int] = [512, 256, 128, 64], size: int = 256, blur_guided: bool = False, head: bool = False) -> int:  # noqa: B006
    """MACs of one sub-decoder at ``size × size`` (fake tensors): AdaRevD ≈ 28.0 G at 256²
    (28.03 G measured; ``head=True`` adds the Conv3×3 64 → 3 head, 0.11 G)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from .reversible import SubDecoder

    ch = list(channels)
    with FakeTensorMode():
        sub = SubDecoder(ch, [max(1, c // 64) for c in ch], blur_guided)
        states = [torch.empty(1, 2 * ch[0], size // 16, size // 16)] + [torch.empty(1, c, size // 2 ** (3 - i), size // 2 ** (3 - i)) for i, c in enumerate(ch)]
        blur = torch.empty(1, 1, size // 14, size // 14) if blur_guided else None

        def run(m: nn.Module) -> Tensor:
            return m(states, blur)[4]

        return count_macs(sub, run) + (size * size * 3 * ch[3] * 9 if head else 0)

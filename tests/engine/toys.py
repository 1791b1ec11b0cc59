"""Tiny test components and a synthetic paired dataset for the engine tests.

``register_toys()`` adds the ``enginetest`` plugin (a chained decoder with sub-decoders, a
loss on one intermediate) to the process-wide plugin host, the way an installed plugin is
registered.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset

import restorekit
from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, Loss, Operator, PipelineOutput
from restorekit.interfaces import Batch


class ChainDecoder(Decoder):
    """``x_s = x_{s-1} + conv_s(dropout(x_{s-1}))`` for s = 1..n (``x_0`` the input), with the
    sub-decoders in ``self.subdecoders``; intermediates last first (the interface's
    convention): ``[x_n, …, x_1]``, so sub-decoder ``s`` (0-based) gives ``intermediates[n-1-s]``.

    ``dropout`` > 0 makes training draw from the global torch RNG (resume tests need that).
    """

    def __init__(self, n: int = 2, channels: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.subdecoders = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(n))
        self.dropout = nn.Dropout(dropout)

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate, operator: Operator | None) -> DecoderOutput:
        x, outs = image, []
        for sub in self.subdecoders:
            x = x + sub(self.dropout(x))
            outs.append(x)
        return DecoderOutput(restored=x, intermediates=outs[::-1])


class IntermediateL1(Loss):
    """Mean |intermediates[index] − sharp|."""

    requires = frozenset({"intermediates"})
    batch_requires = frozenset({"sharp"})

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        return (output.intermediates[self.index] - batch["sharp"]).abs().mean()


def _register_decoders(register: Any) -> None:
    register("chain", ChainDecoder)


def _register_losses(register: Any) -> None:
    register("intermediate_l1", IntermediateL1)


def register_toys() -> None:
    host = restorekit.get_host()
    if "enginetest" in host.plugins:
        return
    module = type(sys)("enginetest_plugin")
    module.register_decoders = restorekit.hookimpl(_register_decoders)  # type: ignore[attr-defined]
    module.register_losses = restorekit.hookimpl(_register_losses)  # type: ignore[attr-defined]
    host.register_plugin("enginetest", module, version="0.0.1")


class BoxBlurPairs(Dataset):
    """Smooth random images and their ``box``×``box`` box-blurred versions (+ Gaussian noise).

    Deterministic in (seed, epoch, index) through a per-sample generator, like
    ``restorekit.data`` datasets; ``set_epoch`` changes the noise.
    """

    def __init__(self, length: int = 32, size: int = 16, seed: int = 0, box: int = 3, noise: float = 0.005) -> None:
        self.length, self.size, self.seed, self.epoch = length, size, seed, 0
        self.box, self.noise = box, noise

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        coarse = torch.rand(1, 3, self.size // 4, self.size // 4, generator=g)
        sharp = F.interpolate(coarse, size=(self.size, self.size), mode="bilinear", align_corners=False)[0]
        k, r = self.box, self.box // 2
        box = torch.full((3, 1, k, k), 1.0 / (k * k))
        blurry = F.conv2d(F.pad(sharp[None], (r, r, r, r), mode="circular"), box, groups=3)[0]
        gn = torch.Generator().manual_seed((self.seed * 7919 + self.epoch) * 1_000_003 + index)
        blurry = (blurry + self.noise * torch.randn(blurry.shape, generator=gn)).clamp(0, 1)
        return {"blurry": blurry, "sharp": sharp}


def save_pairs(root: Path, n: int, seed: int, size: int = 16) -> Path:
    """Write ``n`` :class:`BoxBlurPairs` samples (5×5 box) as 8-bit PNGs in the ``paired``
    layout ``root/{blur,sharp}/NNN.png``; returns ``root``."""
    ds = BoxBlurPairs(n, size=size, seed=seed, box=5)
    for sub in ("blur", "sharp"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        sample = ds[i]
        for key, sub in (("blurry", "blur"), ("sharp", "sharp")):
            arr = (sample[key].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            Image.fromarray(arr).save(root / sub / f"{i:03d}.png")
    return root

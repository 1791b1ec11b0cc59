"""A third-party restorekit plugin: a total-variation loss, a scaling decoder, a dataset and a metric."""

from __future__ import annotations

import torch
from torch import Tensor

import restorekit
import restorekit.data
from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, Loss, Operator, PipelineOutput


class TotalVariationLoss(Loss):
    """Anisotropic total variation of the restored image (mean absolute finite differences)."""

    def __init__(self, eps: float = 0.0) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, output: PipelineOutput, batch) -> Tensor:
        x = output.restored
        return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean() + self.eps


class GainDecoder(Decoder):
    """restored = gain · image with one learnable scalar gain."""

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(float(init)))

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate, operator: Operator | None) -> DecoderOutput:
        return DecoderOutput(restored=self.gain * image)


@restorekit.hookimpl
def register_losses(register) -> None:
    register("tv", TotalVariationLoss)


@restorekit.hookimpl
def register_decoders(register) -> None:
    register("gain", GainDecoder)


class BoxBlurFrames(restorekit.data.DeblurDataset):
    """Sharp images from ``root`` with a blurry twin made by a k×k box blur (circular)."""

    def __init__(self, root: str, split: str, box: int = 3, **common) -> None:
        from pathlib import Path

        from restorekit.data.datasets import image_files

        super().__init__(**common)
        self.files = image_files(Path(root), recursive=True)
        if not self.files:
            raise restorekit.InputError(f"toy.frames: no images under '{root}'")
        self.box = int(box)
        self.split = split

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        from restorekit.functional import conv2d
        from restorekit.inference.imageio import read_image

        sharp = read_image(self.files[index], self.channels)
        images, _ = self._augment({"sharp": sharp}, self.generator(index), None, str(self.files[index]))
        k = torch.full((self.box, self.box), 1.0 / self.box**2)
        blurry = conv2d(images["sharp"][None], k, boundary="circular")[0]
        return {"sharp": images["sharp"], "blurry": blurry, "name": f"{self.files[index].stem}"}


class MeanAbsoluteError:
    """Per-image mean absolute error times ``scale`` (a plugin metric: (restored, sharp) -> (B,))."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def __call__(self, restored: Tensor, sharp: Tensor) -> Tensor:
        return (restored - sharp).abs().flatten(1).mean(dim=1) * self.scale


@restorekit.hookimpl
def register_datasets(register) -> None:
    register("frames", BoxBlurFrames)


@restorekit.hookimpl
def register_metrics(register) -> None:
    register("mae", MeanAbsoluteError)

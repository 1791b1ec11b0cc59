"""``standard.perceptual``: VGG-19 feature (perceptual) loss (DRAMNet eq. 7; specs/dramnet.md §4)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import ConfigError, InputError

from .base import ImageLoss, Target

__all__ = ["PerceptualLoss", "VGG19_FILE", "vgg19_features"]

VGG19_FILE = "vgg19-dcbb9e9d.pth"
"""torchvision's ImageNet VGG-19 weights (``torchvision.models.VGG19_Weights.IMAGENET1K_V1``)."""

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def vgg19_features(last: int) -> nn.Sequential:
    """torchvision's VGG-19 ``features`` (``torchvision.models.vgg.make_layers(cfgs["E"])``, the
    architecture of ``vgg19(weights=None)`` without building its 120 M-parameter classifier),
    truncated after index ``last``; convs initialised as torchvision does (Kaiming normal, fan-out)."""
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["E"], batch_norm=False)
    layers = nn.Sequential(*list(features.children())[: last + 1])
    for m in layers.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return layers


def _read(path: Path) -> Mapping[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


class PerceptualLoss(ImageLoss):
    """Perceptual loss ``Σ_l MSE(φ_l(P), φ_l(X))`` over VGG-19 feature maps (DRAMNet eq. 7).

    ``φ_l`` are the outputs of torchvision's VGG-19 ``features`` at ``layers`` (default 3, 8,
    15 = relu1_2, relu2_2, relu3_3; the network is truncated after the last one) on
    ImageNet-normalised RGB inputs in [0, 1]. The VGG is frozen and is not part of the
    pipeline's state dict (it is read from its file every time the loss is built).

    Args:
        weights: local file with keys ``features.N.weight`` / ``features.N.bias`` — torchvision's
            ``vgg19-dcbb9e9d.pth`` (ImageNet, ``VGG19_Weights.IMAGENET1K_V1``) or a safetensors
            copy; other ``features.N`` beyond the truncation and ``classifier.*`` keys are
            ignored. ``null``: random initialisation (only for tests; warns).
        layers: ``features`` indices whose outputs are compared (ReLU outputs).
        seed: seed of the random initialisation when ``weights`` is ``null``.
        target, scale_weights: see :mod:`restorekit.plugins.standard.losses.base`.

    Choices:
        - VGG-19 relu1_2, relu2_2, relu3_3 (indices 3, 8, 15), summed MSEs, ImageNet
          normalisation (paper eq. 7, spec §4)
        - the frozen VGG is kept out of the state dict (our choice: it is not part of the model)
    """

    def __init__(
        self,
        weights: str | None = None,
        layers: list[int] = [3, 8, 15],  # noqa: B006 - copied, never mutated
        seed: int = 0,
        target: Target = "restored",
        scale_weights: list[float] | None = None,
    ) -> None:
        super().__init__(target=target, scale_weights=scale_weights)
        if not layers or any(int(i) < 0 for i in layers) or sorted(set(layers)) != sorted(layers):
            raise ConfigError(f"standard.perceptual: layers must be distinct non-negative features indices, got {layers}")
        self.layers = sorted(int(i) for i in layers)
        last = self.layers[-1]
        if last > 35:
            raise ConfigError(f"standard.perceptual: VGG-19 features has indices 0..35, got {last}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            features = vgg19_features(last)
        if weights is None:
            warnings.warn(
                "standard.perceptual: no `weights:` given, the VGG-19 is randomly initialised (tests only); give "
                f"torchvision's {VGG19_FILE} for the perceptual loss of the papers",
                stacklevel=2,
            )
        else:
            self._load(features, Path(weights).expanduser())
        for m in features.modules():  # frozen, outside the state dict: parameters → non-persistent buffers
            for name, p in list(m.named_parameters(recurse=False)):
                delattr(m, name)
                m.register_buffer(name, p.detach(), persistent=False)
        self.vgg = features
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _load(features: nn.Sequential, path: Path) -> None:
        if not path.is_file():
            raise InputError(
                f"standard.perceptual: VGG-19 weights '{path}' do not exist; give the local path of torchvision's "
                f"{VGG19_FILE} (https://download.pytorch.org/models/{VGG19_FILE}) or a safetensors file with keys "
                f"features.N.weight/bias (restorekit never downloads)"
            )
        try:
            state = _read(path)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"standard.perceptual: '{path}' is not a readable state dict ({type(exc).__name__}: {exc})") from exc
        own = {f"features.{k}": v for k, v in features.state_dict().items()}
        n = len(features)
        unexpected = [
            k for k in state
            if k not in own and not k.startswith("classifier.")
            and not (k.startswith("features.") and k.split(".")[1].isdigit() and int(k.split(".")[1]) >= n)
        ]
        missing = sorted(set(own) - set(state))
        if missing or unexpected:
            raise InputError(
                f"standard.perceptual: '{path}' is not a VGG-19 state dict: missing keys {missing[:6]}, unexpected keys "
                f"{sorted(unexpected)[:6]}; give torchvision's {VGG19_FILE}"
            )
        for k, v in own.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise InputError(f"standard.perceptual: '{k}' is {tuple(state[k].shape)} in '{path}' but VGG-19 has {tuple(v.shape)}")
        if any(p.is_meta for p in features.parameters()):
            return  # a build on the meta device (memory estimate): keys and shapes checked, nothing to copy
        features.load_state_dict({k[len("features."):]: state[k] for k in own}, strict=True)

    def features(self, x: Tensor) -> list[Tensor]:
        """The compared VGG feature maps of an RGB batch in [0, 1]."""
        if x.shape[1] != 3:
            raise InputError(f"standard.perceptual needs RGB images (B, 3, H, W), got {tuple(x.shape)}")
        h = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for i, layer in enumerate(self.vgg):
            if isinstance(layer, nn.Conv2d):
                h = F.conv2d(h, layer.weight.to(h.dtype), layer.bias.to(h.dtype), layer.stride, layer.padding)
            else:
                h = layer(h)
            if i in self.layers:
                out.append(h)
        return out

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """``Σ_l MSE(φ_l(prediction), φ_l(target))`` (a scalar)."""
        fp = self.features(prediction)
        with torch.no_grad():
            ft = self.features(target)
        return torch.stack([F.mse_loss(a, b) for a, b in zip(fp, ft)]).sum()

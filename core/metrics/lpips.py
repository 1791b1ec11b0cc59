"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018), from local weight files only.

``d(x, x0) = Σ_l 1/(H_l W_l) Σ_{h,w} ‖ w_l ⊙ (ŷ^l_{hw} − ŷ^l_{0hw}) ‖²``  (paper eq. 1), where
``ŷ^l`` are the backbone's layer-``l`` activations normalised to unit length over channels
and ``w_l`` the learned per-channel weights (a 1×1 convolution without bias).

Why not the ``lpips`` package: it downloads the torchvision backbone at run time; here both
files are local:

* ``weights``: the linear layers in the official layout (``lpips/weights/v0.1/{vgg,alex}.pth``),
  keys ``lin{l}.model.1.weight`` of shape ``(1, C_l, 1, 1)``;
* ``backbone_weights``: a torchvision ``vgg16`` / ``alexnet`` ImageNet state dict (keys
  ``features.{i}.weight`` …; the classifier keys, if present, are ignored).

Both may be ``.pth`` (loaded with ``weights_only=True``) or ``.safetensors``. Input images are
RGB in [0, 1] (gray is repeated); they are mapped to [−1, 1] and then normalised with the
official ScalingLayer (shift ``(−.030, −.088, −.188)``, scale ``(.458, .448, .450)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

import torch
from torch import Tensor, nn

from ..errors import ConfigError

# torchvision ``features`` slices ending at the ReLUs LPIPS taps, and their channels.
_TAPS: dict[str, tuple[tuple[int, int], ...]] = {
    "vgg": ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30)),  # relu1_2 … relu5_3
    "alex": ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12)),  # relu1 … relu5
}
CHANNELS: dict[str, tuple[int, ...]] = {"vgg": (64, 128, 256, 512, 512), "alex": (64, 192, 384, 256, 256)}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _load_state(path: str | Path, what: str) -> dict[str, Tensor]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file '{p}' does not exist (LPIPS loads local files only; nothing is downloaded)")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(p))
        else:
            state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code, …
        raise ConfigError(f"{what} file '{p}' cannot be read as a state dict: {exc}") from exc
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ConfigError(f"{what} file '{p}' holds a {type(state).__name__}, not a state dict")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


class LPIPS(nn.Module):
    """Learned perceptual distance; ``lpips(a, b)`` with ``(B, C, H, W)`` in [0, 1] → ``(B,)``.

    Args:
        weights: linear-layer file (official layout, see module docstring).
        backbone_weights: torchvision backbone state dict.
        net: ``vgg`` (VGG-16, the variant used for image restoration) or ``alex``.
    """

    def __init__(self, weights: str, backbone_weights: str, net: Literal["vgg", "alex"] = "vgg") -> None:
        super().__init__()
        import torchvision

        if net not in _TAPS:
            raise ConfigError(f"LPIPS net must be 'vgg' or 'alex', got {net!r}")
        self.net = net
        if net == "vgg":  # only the convolutional part: building the 124M-parameter classifier is wasted time
            from torchvision.models.vgg import cfgs, make_layers

            model = nn.Module()
            model.features = make_layers(cfgs["D"], batch_norm=False)
        else:
            model = torchvision.models.alexnet(weights=None)
        backbone = _load_state(backbone_weights, f"LPIPS {net} backbone")
        feats = {k.removeprefix("features."): v for k, v in backbone.items() if k.startswith("features.")}
        expected = set(model.features.state_dict())
        if set(feats) != expected:
            missing = sorted(expected - set(feats))
            raise ConfigError(
                f"LPIPS backbone file '{backbone_weights}' is not a torchvision {'vgg16' if net == 'vgg' else 'alexnet'} "
                f"state dict: missing {['features.' + m for m in missing[:4]]}"
                f"{' …' if len(missing) > 4 else ''}; unexpected {sorted(set(feats) - expected)[:4]}"
            )
        model.features.load_state_dict(feats)
        self.slices = nn.ModuleList(nn.Sequential(*model.features[a:b]) for a, b in _TAPS[net])
        lins = _load_state(weights, "LPIPS linear-layer")
        self.lins = nn.ModuleList()
        for i, ch in enumerate(CHANNELS[net]):
            key = f"lin{i}.model.1.weight"
            w = lins.get(key)
            if w is None or tuple(w.shape) != (1, ch, 1, 1):
                found = tuple(w.shape) if w is not None else "missing"
                raise ConfigError(
                    f"LPIPS linear-layer file '{weights}': '{key}' must have shape (1, {ch}, 1, 1) for net '{net}', "
                    f"found {found}; use the official lpips {net}.pth"
                )
            conv = nn.Conv2d(ch, 1, 1, bias=False)
            conv.weight.data.copy_(w.float())
            self.lins.append(conv)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def features(self, x: Tensor) -> list[Tensor]:
        """Unit-normalised activations at the five taps for ``x`` in [0, 1]."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = ((x * 2.0 - 1.0) - self.shift) / self.scale
        out = []
        for s in self.slices:
            h = s(h)
            out.append(h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = self.features(a), self.features(b)
        total = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for lin, xa, xb in zip(self.lins, fa, fb):
            total = total + lin((xa - xb) ** 2).mean(dim=(1, 2, 3))
        return total


def load_lpips(settings: Mapping[str, Any]) -> LPIPS:
    """An :class:`LPIPS` from an ``eval:`` section (``lpips_weights``, ``lpips_backbone_weights``, ``lpips_net``)."""
    weights = settings.get("lpips_weights")
    backbone = settings.get("lpips_backbone_weights")
    if not weights or not backbone:
        raise ConfigError(
            "LPIPS needs two local files: eval.lpips_weights (the official lpips linear layers, e.g. vgg.pth) and "
            "eval.lpips_backbone_weights (torchvision vgg16 ImageNet weights, e.g. vgg16-397923af.pth); "
            "nothing is downloaded. Or drop 'lpips' from eval.metrics"
        )
    return LPIPS(str(weights), str(backbone), net=settings.get("lpips_net") or "vgg")

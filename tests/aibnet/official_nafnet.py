"""An independent description of the official NAFNet (megvii-research/NAFNet,
``basicsr/models/archs/NAFNet_arch.py``): its state-dict layout and its forward written with
plain torch ops on that state dict. Nothing here imports the plugin."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nafblock_shapes(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    """The official ``NAFBlock(c)`` keys (DW_Expand = FFN_Expand = 2)."""
    dw = 2 * c
    return {
        f"{prefix}conv1.weight": (dw, c, 1, 1), f"{prefix}conv1.bias": (dw,),
        f"{prefix}conv2.weight": (dw, 1, 3, 3), f"{prefix}conv2.bias": (dw,),
        f"{prefix}conv3.weight": (c, dw // 2, 1, 1), f"{prefix}conv3.bias": (c,),
        f"{prefix}sca.1.weight": (dw // 2, dw // 2, 1, 1), f"{prefix}sca.1.bias": (dw // 2,),
        f"{prefix}conv4.weight": (2 * c, c, 1, 1), f"{prefix}conv4.bias": (2 * c,),
        f"{prefix}conv5.weight": (c, c, 1, 1), f"{prefix}conv5.bias": (c,),
        f"{prefix}norm1.weight": (c,), f"{prefix}norm1.bias": (c,),
        f"{prefix}norm2.weight": (c,), f"{prefix}norm2.bias": (c,),
        f"{prefix}beta": (1, c, 1, 1), f"{prefix}gamma": (1, c, 1, 1),
    }


def official_nafnet_shapes(width: int = 64, enc: list[int] = [1, 1, 1, 28], middle: int = 1, dec: list[int] = [1, 1, 1, 1], img_channel: int = 3) -> dict[str, tuple[int, ...]]:  # noqa: B006
    """Every key of ``NAFNet(img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums)``."""
    shapes: dict[str, tuple[int, ...]] = {
        "intro.weight": (width, img_channel, 3, 3), "intro.bias": (width,),
        "ending.weight": (img_channel, width, 3, 3), "ending.bias": (img_channel,),
    }
    chan = width
    for i, n in enumerate(enc):
        for j in range(n):
            shapes.update(nafblock_shapes(f"encoders.{i}.{j}.", chan))
        shapes[f"downs.{i}.weight"] = (2 * chan, chan, 2, 2)
        shapes[f"downs.{i}.bias"] = (2 * chan,)
        chan *= 2
    for j in range(middle):
        shapes.update(nafblock_shapes(f"middle_blks.{j}.", chan))
    for i, n in enumerate(dec):
        shapes[f"ups.{i}.0.weight"] = (2 * chan, chan, 1, 1)
        chan //= 2
        for j in range(n):
            shapes.update(nafblock_shapes(f"decoders.{i}.{j}.", chan))
    return shapes


def random_official_state_dict(seed: int = 0, **kwargs) -> dict[str, Tensor]:
    """Random values in the official layout (β/γ non-zero so every block does something)."""
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=gen) * 0.2 for k, s in official_nafnet_shapes(**kwargs).items()}


def _ln(x: Tensor, w: Tensor, b: Tensor, eps: float = 1e-6) -> Tensor:
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    return w.view(1, -1, 1, 1) * (x - mu) / (var + eps).sqrt() + b.view(1, -1, 1, 1)


def _gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return a * b


def _block(x: Tensor, sd: dict[str, Tensor], p: str) -> Tensor:
    inp = x
    x = _ln(x, sd[p + "norm1.weight"], sd[p + "norm1.bias"])
    x = F.conv2d(x, sd[p + "conv1.weight"], sd[p + "conv1.bias"])
    x = F.conv2d(x, sd[p + "conv2.weight"], sd[p + "conv2.bias"], padding=1, groups=x.shape[1])
    x = _gate(x)
    x = x * F.conv2d(x.mean(dim=(2, 3), keepdim=True), sd[p + "sca.1.weight"], sd[p + "sca.1.bias"])
    x = F.conv2d(x, sd[p + "conv3.weight"], sd[p + "conv3.bias"])
    y = inp + x * sd[p + "beta"]
    x = F.conv2d(_ln(y, sd[p + "norm2.weight"], sd[p + "norm2.bias"]), sd[p + "conv4.weight"], sd[p + "conv4.bias"])
    x = F.conv2d(_gate(x), sd[p + "conv5.weight"], sd[p + "conv5.bias"])
    return y + x * sd[p + "gamma"]


def official_encoder_taps(inp: Tensor, sd: dict[str, Tensor], enc: list[int], middle: int) -> list[Tensor]:  # noqa: B006
    """``encs`` and the middle output of the official forward (check_image_size zero pad)."""
    pad = 2 ** len(enc)
    h, w = inp.shape[-2:]
    inp = F.pad(inp, (0, (pad - w % pad) % pad, 0, (pad - h % pad) % pad))
    x = F.conv2d(inp, sd["intro.weight"], sd["intro.bias"], padding=1)
    encs = []
    for i, n in enumerate(enc):
        for j in range(n):
            x = _block(x, sd, f"encoders.{i}.{j}.")
        encs.append(x)
        x = F.conv2d(x, sd[f"downs.{i}.weight"], sd[f"downs.{i}.bias"], stride=2)
    for j in range(middle):
        x = _block(x, sd, f"middle_blks.{j}.")
    return encs + [x]

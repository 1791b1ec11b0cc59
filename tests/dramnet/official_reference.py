"""An independent transcription of the official Depth-Anything-V2 forward (DepthAnything/
Depth-Anything-V2: ``depth_anything_v2/dpt.py``, ``dinov2.py``, ``dinov2_layers/*``,
``util/blocks.py``) written with plain torch ops on a state dict — it imports nothing from
restorekit, so the encoder is checked against the official equations, not against itself —
and the official checkpoint key layout written out from specs/dramnet.md §1.4.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# variant: (dim, depth, heads, taps, features, out_channels)
CONFIGS = {
    "vits": (384, 12, 6, [2, 5, 8, 11], 64, [48, 96, 192, 384]),
    "vitb": (768, 12, 12, [2, 5, 8, 11], 128, [96, 192, 384, 768]),
    "vitl": (1024, 24, 16, [4, 11, 17, 23], 256, [256, 512, 1024, 1024]),
}


def official_shapes(variant: str = "vits", grid: int = 37) -> dict[str, tuple[int, ...]]:
    """Key → shape of an official checkpoint (spec §1.4), written out by hand."""
    dim, depth, _heads, _taps, feat, oc = CONFIGS[variant]
    s: dict[str, tuple[int, ...]] = {
        "pretrained.cls_token": (1, 1, dim),
        "pretrained.pos_embed": (1, 1 + grid * grid, dim),
        "pretrained.mask_token": (1, dim),
        "pretrained.patch_embed.proj.weight": (dim, 3, 14, 14),
        "pretrained.patch_embed.proj.bias": (dim,),
    }
    for n in range(depth):
        p = f"pretrained.blocks.{n}."
        s.update({
            p + "norm1.weight": (dim,), p + "norm1.bias": (dim,),
            p + "attn.qkv.weight": (3 * dim, dim), p + "attn.qkv.bias": (3 * dim,),
            p + "attn.proj.weight": (dim, dim), p + "attn.proj.bias": (dim,),
            p + "ls1.gamma": (dim,),
            p + "norm2.weight": (dim,), p + "norm2.bias": (dim,),
            p + "mlp.fc1.weight": (4 * dim, dim), p + "mlp.fc1.bias": (4 * dim,),
            p + "mlp.fc2.weight": (dim, 4 * dim), p + "mlp.fc2.bias": (dim,),
            p + "ls2.gamma": (dim,),
        })
    s["pretrained.norm.weight"] = (dim,)
    s["pretrained.norm.bias"] = (dim,)
    h = "depth_head."
    for i, c in enumerate(oc):
        s[f"{h}projects.{i}.weight"] = (c, dim, 1, 1)
        s[f"{h}projects.{i}.bias"] = (c,)
    s[f"{h}resize_layers.0.weight"] = (oc[0], oc[0], 4, 4)  # ConvTranspose2d: (in, out, k, k)
    s[f"{h}resize_layers.0.bias"] = (oc[0],)
    s[f"{h}resize_layers.1.weight"] = (oc[1], oc[1], 2, 2)
    s[f"{h}resize_layers.1.bias"] = (oc[1],)
    s[f"{h}resize_layers.3.weight"] = (oc[3], oc[3], 3, 3)
    s[f"{h}resize_layers.3.bias"] = (oc[3],)
    for i, c in enumerate(oc, start=1):
        s[f"{h}scratch.layer{i}_rn.weight"] = (feat, c, 3, 3)
    for i in range(1, 5):
        r = f"{h}scratch.refinenet{i}."
        s[r + "out_conv.weight"] = (feat, feat, 1, 1)
        s[r + "out_conv.bias"] = (feat,)
        for unit in ("resConfUnit1", "resConfUnit2"):
            for conv in ("conv1", "conv2"):
                s[f"{r}{unit}.{conv}.weight"] = (feat, feat, 3, 3)
                s[f"{r}{unit}.{conv}.bias"] = (feat,)
    s[f"{h}scratch.output_conv1.weight"] = (feat // 2, feat, 3, 3)
    s[f"{h}scratch.output_conv1.bias"] = (feat // 2,)
    s[f"{h}scratch.output_conv2.0.weight"] = (32, feat // 2, 3, 3)
    s[f"{h}scratch.output_conv2.0.bias"] = (32,)
    s[f"{h}scratch.output_conv2.2.weight"] = (1, 32, 1, 1)
    s[f"{h}scratch.output_conv2.2.bias"] = (1,)
    return s


def random_official_state_dict(variant: str = "vits", seed: int = 0) -> dict[str, Tensor]:
    """A random checkpoint in the official layout, scaled so that activations stay O(1) and the
    final ReLU output is not identically zero."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, Tensor] = {}
    for k, shape in official_shapes(variant).items():
        if k.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif k.endswith("gamma"):
            t = 0.5 + 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:]) if "resize_layers.0" not in k and "resize_layers.1" not in k else shape[0]
            t = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        else:
            t = 0.05 * torch.randn(shape, generator=gen)
        out[k] = t
    out["depth_head.scratch.output_conv2.2.bias"] = torch.full((1,), 0.3)
    return out


# ---------------------------------------------------------------------------------------
# The official forward, transcribed
# ---------------------------------------------------------------------------------------


def _interpolate_pos_encoding(sd: dict[str, Tensor], npatch: int, w: int, h: int, dim: int) -> Tensor:
    """dinov2.py ``DinoVisionTransformer.interpolate_pos_encoding(x, w, h)`` (``w`` = rows!)."""
    pos_embed = sd["pretrained.pos_embed"]
    N = pos_embed.shape[1] - 1
    if npatch == N and w == h:
        return pos_embed
    pos_embed = pos_embed.float()
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    w0 = w // 14
    h0 = h // 14
    w0, h0 = w0 + 0.1, h0 + 0.1
    sqrt_N = math.sqrt(N)
    sx, sy = float(w0) / sqrt_N, float(h0) / sqrt_N
    patch_pos_embed = F.interpolate(
        patch_pos_embed.reshape(1, int(sqrt_N), int(sqrt_N), dim).permute(0, 3, 1, 2),
        scale_factor=(sx, sy),
        mode="bicubic",
        antialias=False,
    )
    assert int(w0) == patch_pos_embed.shape[-2]
    assert int(h0) == patch_pos_embed.shape[-1]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


def _block(sd: dict[str, Tensor], p: str, x: Tensor, heads: int) -> Tensor:
    B, N, C = x.shape
    y = F.layer_norm(x, (C,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
    qkv = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (C // heads) ** -0.5, qkv[1], qkv[2]
    attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    y = (attn @ v).transpose(1, 2).reshape(B, N, C)
    y = F.linear(y, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
    x = x + y * sd[p + "ls1.gamma"]
    y = F.layer_norm(x, (C,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
    y = F.linear(F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])), sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
    return x + y * sd[p + "ls2.gamma"]


def dinov2_taps(sd: dict[str, Tensor], x: Tensor, variant: str = "vits") -> list[Tensor]:
    """``get_intermediate_layers(x, taps, return_class_token=True)`` (patch tokens part)."""
    dim, depth, heads, taps, _f, _oc = CONFIGS[variant]
    B, nc, w, h = x.shape
    t = F.conv2d(x, sd["pretrained.patch_embed.proj.weight"], sd["pretrained.patch_embed.proj.bias"], stride=14)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat((sd["pretrained.cls_token"].expand(B, -1, -1), t), dim=1)
    t = t + _interpolate_pos_encoding(sd, t.shape[1] - 1, w, h, dim)
    outs = []
    for i in range(depth):
        t = _block(sd, f"pretrained.blocks.{i}.", t, heads)
        if i in taps:
            outs.append(t)
    outs = [F.layer_norm(o, (dim,), sd["pretrained.norm.weight"], sd["pretrained.norm.bias"], eps=1e-6) for o in outs]
    return [o[:, 1:] for o in outs]


def _rcu(sd: dict[str, Tensor], p: str, x: Tensor) -> Tensor:
    out = F.relu(x)
    out = F.conv2d(out, sd[p + "conv1.weight"], sd[p + "conv1.bias"], padding=1)
    out = F.relu(out)
    out = F.conv2d(out, sd[p + "conv2.weight"], sd[p + "conv2.bias"], padding=1)
    return out + x


def _fusion(sd: dict[str, Tensor], p: str, *xs: Tensor, size=None) -> Tensor:
    output = xs[0]
    if len(xs) == 2:
        output = output + _rcu(sd, p + "resConfUnit1.", xs[1])
    output = _rcu(sd, p + "resConfUnit2.", output)
    if size is None:
        output = F.interpolate(output, scale_factor=2, mode="bilinear", align_corners=True)
    else:
        output = F.interpolate(output, size=size, mode="bilinear", align_corners=True)
    return F.conv2d(output, sd[p + "out_conv.weight"], sd[p + "out_conv.bias"])


def dpt_head(sd: dict[str, Tensor], features: list[Tensor], patch_h: int, patch_w: int) -> Tensor:
    h = "depth_head."
    out = []
    for i, x in enumerate(features):
        x = x.permute(0, 2, 1).reshape((x.shape[0], x.shape[-1], patch_h, patch_w))
        x = F.conv2d(x, sd[f"{h}projects.{i}.weight"], sd[f"{h}projects.{i}.bias"])
        if i == 0:
            x = F.conv_transpose2d(x, sd[f"{h}resize_layers.0.weight"], sd[f"{h}resize_layers.0.bias"], stride=4)
        elif i == 1:
            x = F.conv_transpose2d(x, sd[f"{h}resize_layers.1.weight"], sd[f"{h}resize_layers.1.bias"], stride=2)
        elif i == 3:
            x = F.conv2d(x, sd[f"{h}resize_layers.3.weight"], sd[f"{h}resize_layers.3.bias"], stride=2, padding=1)
        out.append(x)
    layer_1, layer_2, layer_3, layer_4 = out
    rn = [F.conv2d(t, sd[f"{h}scratch.layer{i}_rn.weight"], None, padding=1) for i, t in enumerate(out, start=1)]
    layer_1_rn, layer_2_rn, layer_3_rn, layer_4_rn = rn
    path_4 = _fusion(sd, f"{h}scratch.refinenet4.", layer_4_rn, size=layer_3_rn.shape[2:])
    path_3 = _fusion(sd, f"{h}scratch.refinenet3.", path_4, layer_3_rn, size=layer_2_rn.shape[2:])
    path_2 = _fusion(sd, f"{h}scratch.refinenet2.", path_3, layer_2_rn, size=layer_1_rn.shape[2:])
    path_1 = _fusion(sd, f"{h}scratch.refinenet1.", path_2, layer_1_rn)
    o = F.conv2d(path_1, sd[f"{h}scratch.output_conv1.weight"], sd[f"{h}scratch.output_conv1.bias"], padding=1)
    o = F.interpolate(o, (int(patch_h * 14), int(patch_w * 14)), mode="bilinear", align_corners=True)
    o = F.relu(F.conv2d(o, sd[f"{h}scratch.output_conv2.0.weight"], sd[f"{h}scratch.output_conv2.0.bias"], padding=1))
    o = F.relu(F.conv2d(o, sd[f"{h}scratch.output_conv2.2.weight"], sd[f"{h}scratch.output_conv2.2.bias"]))
    return o


def depth_anything_v2_forward(sd: dict[str, Tensor], image01: Tensor, variant: str = "vits") -> Tensor:
    """``DepthAnythingV2.forward`` on an RGB image in [0, 1] (normalised as the official
    ``image2tensor``: ImageNet mean/std) → ``(B, H, W)``, as the official code returns it."""
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=image01.dtype).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=image01.dtype).view(1, 3, 1, 1)
    x = (image01 - mean) / std
    patch_h, patch_w = x.shape[-2] // 14, x.shape[-1] // 14
    features = dinov2_taps(sd, x, variant)
    depth = dpt_head(sd, features, patch_h, patch_w)
    depth = F.relu(depth)
    return depth.squeeze(1)

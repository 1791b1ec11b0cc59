"""An independent, functional evaluation of NRKNet from an official-layout state dict.

Written with plain torch ops straight from the spec (nrknet.md §1.2, §2, §3 and §7) and the
paper's equations (10)–(11); it shares no code with ``restorekit.plugins.nrknet``: its own
atom softmax, its own 3-tap recursion by explicit shifted sums (no conv for the RKR), its own
mixing, ConvLSTM and Neumann fusion. Test helper only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# Official key list and shapes for J = 21 (spec §7), used to write random checkpoints.
OFFICIAL_SHAPES: dict[str, tuple[int, ...]] = {
    "GCM.kernels": (63, 1, 1, 2),
    "SummationLayer.conv.weight": (3, 66, 1, 1),
    "SummationLayer.conv.bias": (3,),
    "APU.conv.main.0.weight": (22, 64, 3, 3),
    "APU.conv.main.1.weight": (22,),
    "APU.conv.main.1.bias": (22,),
    "APU.conv.main.1.running_mean": (22,),
    "APU.conv.main.1.running_var": (22,),
    "APU.conv.main.1.num_batches_tracked": (),
    "APU.conv_atten.conv.weight": (88, 86, 5, 5),
    "APU.conv_atten.conv.bias": (88,),
    "feat_extract.0.main.0.weight": (64, 3, 3, 3),
    "feat_extract.1.main.0.weight": (128, 64, 3, 3),
    "feat_extract.2.main.0.weight": (256, 128, 3, 3),
    "feat_extract.3.main.0.weight": (256, 128, 4, 4),
    "feat_extract.4.main.0.weight": (128, 64, 4, 4),
    "bottleneck.0.main.0.weight": (256, 256, 3, 3),
    "bottleneck.1.layers.0.main.0.main.0.weight": (256, 256, 3, 3),
    "bottleneck.1.layers.0.main.1.main.0.weight": (256, 256, 3, 3),
}
for _i, _c in enumerate((64, 128, 256)):
    for _j in (0, 1):
        OFFICIAL_SHAPES[f"Encoder.{_i}.layers.0.main.{_j}.main.0.weight"] = (_c, _c, 3, 3)
for _i, _c in enumerate((256, 128, 64)):
    for _j in (0, 1):
        OFFICIAL_SHAPES[f"Decoder.{_i}.layers.0.main.{_j}.main.0.weight"] = (_c, _c, 3, 3)


def random_official_state_dict(seed: int = 0) -> dict[str, Tensor]:
    """A randomly initialised checkpoint in the official layout (float32, as saved by the code).

    Conv weights are scaled like PyTorch's default init (fan-in) so activations stay O(1);
    BN running statistics are random so that eval-mode BN is exercised.
    """
    g = torch.Generator().manual_seed(seed)
    out: dict[str, Tensor] = {}
    for key, shape in OFFICIAL_SHAPES.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(shape, generator=g)
        elif key == "GCM.kernels":
            out[key] = torch.rand(shape, generator=g)
        elif len(shape) == 4:
            fan_in = shape[0] * shape[2] * shape[3] if key in ("feat_extract.3.main.0.weight", "feat_extract.4.main.0.weight") else math.prod(shape[1:])
            out[key] = (torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(fan_in)
        else:
            out[key] = (torch.rand(shape, generator=g) * 2 - 1) * 0.5
    return out


# -- the network, functionally -------------------------------------------------------------
def _conv(x: Tensor, w: Tensor, stride: int = 1, relu: bool = True) -> Tensor:
    k = w.shape[-1]
    y = F.conv2d(F.pad(x, [k // 2] * 4, mode="reflect"), w, stride=stride)
    return F.relu(y) if relu else y


def _convT(x: Tensor, w: Tensor) -> Tensor:
    return F.relu(F.conv_transpose2d(x, w, stride=2, padding=1))


def _res(x: Tensor, sd: dict[str, Tensor], prefix: str) -> Tensor:
    y = _conv(x, sd[f"{prefix}.layers.0.main.0.main.0.weight"])
    y = _conv(y, sd[f"{prefix}.layers.0.main.1.main.0.weight"], relu=False)
    return x + y


def _unet(x: Tensor, sd: dict[str, Tensor]) -> Tensor:
    res1 = _res(_conv(x, sd["feat_extract.0.main.0.weight"]), sd, "Encoder.0")
    res2 = _res(_conv(res1, sd["feat_extract.1.main.0.weight"], stride=2), sd, "Encoder.1")
    res3 = _res(_conv(res2, sd["feat_extract.2.main.0.weight"], stride=2), sd, "Encoder.2")
    z = _res(_conv(res3, sd["bottleneck.0.main.0.weight"]), sd, "bottleneck.1")
    z = _convT(_res(res3 + z, sd, "Decoder.0"), sd["feat_extract.3.main.0.weight"])
    z = _convT(_res(z + res2, sd, "Decoder.1"), sd["feat_extract.4.main.0.weight"])
    return _res(z + res1, sd, "Decoder.2")


def _apu(z: Tensor, h: Tensor, c: Tensor, sd: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    p = "APU.conv.main.1"
    x_res = _conv(z, sd["APU.conv.main.0.weight"], relu=False)
    shape = (1, -1, 1, 1)
    x_res = (x_res - sd[f"{p}.running_mean"].view(shape)) / torch.sqrt(sd[f"{p}.running_var"].view(shape) + 1e-5)
    x_res = F.relu(x_res * sd[f"{p}.weight"].view(shape) + sd[f"{p}.bias"].view(shape))
    y = 0.25 * (z[..., 0::2, 0::2] + z[..., 1::2, 0::2] + z[..., 0::2, 1::2] + z[..., 1::2, 1::2])
    gates = F.conv2d(torch.cat([y, h], 1), sd["APU.conv_atten.conv.weight"], sd["APU.conv_atten.conv.bias"], padding=2)
    G = h.shape[1]
    i, f, o, g = (gates[:, k * G : (k + 1) * G] for k in range(4))
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    up = h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest ×2
    return up * (1 + x_res), h, c


# -- RKR, eq. (11), by explicit 3-tap shifts ----------------------------------------------------
def _atoms(logits: Tensor) -> Tensor:
    """(3J,1,1,2) logits [p, q] → taps (J, 3 colours, 3) = (e^p, e^q, e^p)/(2e^p + e^q)."""
    p, q = logits[:, 0, 0, 0], logits[:, 0, 0, 1]
    den = 2 * torch.exp(p) + torch.exp(q)
    taps = torch.stack([torch.exp(p) / den, torch.exp(q) / den, torch.exp(p) / den], dim=-1)
    return taps.view(-1, 3, 3)


def _step(x: Tensor, a: Tensor) -> Tensor:
    """Reflect-pad by 1, then the 3-tap row pass and the 3-tap column pass (per colour)."""
    x = F.pad(x, [1, 1, 1, 1], mode="reflect")
    a0, a1, a2 = (a[:, k].view(1, -1, 1, 1) for k in range(3))
    x = a0 * x[..., :, :-2] + a1 * x[..., :, 1:-1] + a2 * x[..., :, 2:]
    return a0 * x[..., :-2, :] + a1 * x[..., 1:-1, :] + a2 * x[..., 2:, :]


def rkr_reference(y: Tensor, gamma: Tensor, sd: dict[str, Tensor]) -> Tensor:
    """``D(Y)_c = Σ_j Σ_c' W[c, 3j+c'] Γ_j (B_j Y)_c' + b_c`` with B_0 = I, B_j = A_j B_{j−1}."""
    atoms = _atoms(sd["GCM.kernels"].to(y.dtype))
    W = sd["SummationLayer.conv.weight"].to(y.dtype)[:, :, 0, 0]
    b = sd["SummationLayer.conv.bias"].to(y.dtype)
    out = b.view(1, 3, 1, 1).expand_as(y).clone()
    term = y
    for j in range(atoms.shape[0] + 1):
        if j > 0:
            term = _step(term, atoms[j - 1])
        weighted = gamma[:, j : j + 1] * term  # (B, 3, H, W)
        out = out + torch.einsum("oc,bchw->bohw", W[:, 3 * j : 3 * j + 3], weighted)
    return out


def nrknet_reference(x: Tensor, sd: dict[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Inference of the official model on ``x`` (its channel order), eval-mode BN.

    Returns ``(Z_0, [Γ_1, Γ_2, Γ_3])`` with Z_0 from eq. (10):
    ``Z_0 = Y_1 + (I−D_1)Y_1 + up2((I−D_2)²Y_2) + up4((I−D_3)³Y_3)``.
    """
    sd = {k: (v.to(x.dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    ys = [x, x[..., ::2, ::2], x[..., ::4, ::4]]  # nearest decimation
    G = sd["APU.conv_atten.conv.bias"].shape[0] // 4
    h = x.new_zeros(x.shape[0], G, ys[2].shape[-2] // 2, ys[2].shape[-1] // 2)
    c = torch.zeros_like(h)
    gammas: list[Tensor] = [x, x, x]
    terms: list[Tensor] = [x, x, x]
    for t in (2, 1, 0):
        gamma, h, c = _apu(_unet(ys[t], sd), h, c, sd)
        gammas[t] = gamma
        u = ys[t]
        for _ in range(t + 1):  # n = 3, 2, 1 at 1/4, 1/2, full
            u = u - rkr_reference(u, gamma, sd)
        terms[t] = u
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        c = F.interpolate(c, scale_factor=2, mode="bilinear", align_corners=False)
    z = x + terms[0]
    for t in (1, 2):
        z = z + F.interpolate(terms[t], scale_factor=2**t, mode="bilinear", align_corners=False)
    return z, gammas

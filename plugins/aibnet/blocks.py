"""AIBNet's blocks (specs/aibnet.md §2–§4): SFEM, SFDHBlock, the FSNet Decoupler, HFSBlock.

Built on :mod:`restorekit.layers` (LayerNorm2d, SimpleGate, SimplifiedChannelAttention).
All shapes are ``(B, c, H, W) → (B, c, H, W)``.

Channel ("transposed") attention, as in Restormer's MDTA: the ``c`` channels are split
into ``h`` heads of ``d = c / h`` channels and every head attends over its ``d`` channels
with a ``d × d`` matrix computed from ``HW``-long rows, so the cost is linear in the pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import ConfigError, InputError
from restorekit.layers import LayerNorm2d, SimpleGate, SimplifiedChannelAttention

__all__ = [
    "HighFrequencyDecoupler",
    "HFSBlock",
    "SFDHBlock",
    "SFEM",
    "alpha_init",
    "head_layout",
    "mask_sizes",
]


def head_layout(channels: int, head_channels: int = 64) -> tuple[int, int]:
    """``(heads h, channels per head d)`` for a width ``c``: ``h = max(1, c // head_channels)``,
    ``d = c / h`` (spec: ``h = c / 64``, ``d = 64``; narrower widths get one head of ``d = c``).

    Raises:
        ConfigError: ``c`` is not divisible by ``h``.
    """
    c, hc = int(channels), int(head_channels)
    if c < 1 or hc < 1:
        raise ConfigError(f"aibnet: channels and head_channels must be ≥ 1, got {c} and {hc}")
    h = max(1, c // hc)
    if c % h:
        raise ConfigError(f"aibnet: width {c} is not divisible into {h} heads of {hc} channels; use a width that is a multiple of head_channels={hc}")
    return h, c // h


def alpha_init(index: int) -> float:
    """``α_init(l) = 0.8 − 0.6·exp(−0.3(l − 1))`` for the 1-based block index ``l`` within its
    level (spec §3, from Differential Transformer's depth schedule): 0.2, 0.3555, 0.4707, …"""
    if index < 1:
        raise ConfigError(f"aibnet: the SFDH block index l is 1-based, got {index}")
    return 0.8 - 0.6 * math.exp(-0.3 * (index - 1))


def mask_sizes(head_dim: int, num_masks: int = 4, ratios: list[float] | None = None) -> list[int]:
    """Entries kept per row by each HFS mask: ``k_i = ⌊d·r_i⌋`` with ``r_i = i/(i+1)`` by
    default (1/2, 2/3, 3/4, 4/5 → 32, 42, 48, 51 for ``d = 64``; spec §4).

    Raises:
        ConfigError: ``num_masks < 1``, ``ratios`` of another length, or a ratio giving
            ``k`` outside ``1..d``.
    """
    if num_masks < 1:
        raise ConfigError(f"aibnet: num_masks must be ≥ 1, got {num_masks}")
    if ratios is None:
        ratios = [i / (i + 1) for i in range(1, num_masks + 1)]
    elif len(ratios) != num_masks:
        raise ConfigError(f"aibnet: mask_ratios has {len(ratios)} entries but num_masks is {num_masks}; give one ratio per mask")
    sizes = []
    for r in ratios:
        # floor with a small tolerance, so that 64·(2/3) = 42.666… → 42 and 64·1.0 → 64 exactly
        k = int(math.floor(head_dim * float(r) + 1e-9))
        if not 1 <= k <= head_dim:
            raise ConfigError(f"aibnet: mask ratio {r} keeps {k} of {head_dim} channels per row; use ratios in (0, 1] with d·r ≥ 1")
        sizes.append(k)
    return sizes


def _heads(x: Tensor, heads: int) -> Tensor:
    """``(B, c, H, W) → (B, h, d, HW)``."""
    b, c, hgt, wid = x.shape
    return x.reshape(b, heads, c // heads, hgt * wid)


def _unheads(x: Tensor, height: int, width: int) -> Tensor:
    """``(B, h, d, HW) → (B, h·d, H, W)``."""
    b, h, d, _ = x.shape
    return x.reshape(b, h * d, height, width)


class SFEM(nn.Module):
    """Channel-wise differential attention (AIBNet eqs. 2–3; spec §3).

    ::

        Q¹, K¹, Q², K², V = split(dw3×3(1×1 c→5c (X)))          each (B, h, d, HW)
        att_k = softmax(Q̂ᵏ K̂ᵏᵀ / β),  Q̂, K̂ L2-normalised over HW    (B, h, d, d)
        α = exp(α_Q1·α_K1) − exp(α_Q2·α_K2) + α_init(l)              one scalar
        X^e = 1×1 c→c ( (att_1 − α·att_2) V )

    Parameters: ``6c² + 56c + h + 4d`` (convs with biases, ``β`` per head, four α vectors).

    Args:
        channels: ``c``.
        index: 1-based position ``l`` of the SFDH block in its level (sets ``α_init``).
        head_channels: channels per head (64; fewer channels give one head).
    """

    def __init__(self, channels: int, index: int = 1, head_channels: int = 64) -> None:
        super().__init__()
        c = int(channels)
        self.heads, self.head_dim = head_layout(c, head_channels)
        self.qkv = nn.Conv2d(c, 5 * c, 1)
        self.qkv_dw = nn.Conv2d(5 * c, 5 * c, 3, padding=1, groups=5 * c)
        self.proj = nn.Conv2d(c, c, 1)
        self.temperature = nn.Parameter(torch.full((1, self.heads, 1, 1), math.sqrt(self.head_dim)))
        self.alpha_q1 = nn.Parameter(torch.empty(self.head_dim).normal_(0.0, 0.1))
        self.alpha_k1 = nn.Parameter(torch.empty(self.head_dim).normal_(0.0, 0.1))
        self.alpha_q2 = nn.Parameter(torch.empty(self.head_dim).normal_(0.0, 0.1))
        self.alpha_k2 = nn.Parameter(torch.empty(self.head_dim).normal_(0.0, 0.1))
        self.alpha_init = alpha_init(index)

    def alpha(self) -> Tensor:
        """The differential weight α (eq. 3), a 0-d tensor."""
        a1 = torch.exp(torch.dot(self.alpha_q1, self.alpha_k1))
        a2 = torch.exp(torch.dot(self.alpha_q2, self.alpha_k2))
        return a1 - a2 + self.alpha_init

    def attention(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(att_1, att_2, V)``: the two ``(B, h, d, d)`` maps and ``V`` ``(B, h, d, HW)``."""
        q1, k1, q2, k2, v = self.qkv_dw(self.qkv(x)).chunk(5, dim=1)
        q1, k1, q2, k2 = (F.normalize(_heads(t, self.heads), dim=-1) for t in (q1, k1, q2, k2))
        att1 = torch.softmax(q1 @ k1.transpose(-2, -1) / self.temperature, dim=-1)
        att2 = torch.softmax(q2 @ k2.transpose(-2, -1) / self.temperature, dim=-1)
        return att1, att2, _heads(v, self.heads)

    def forward(self, x: Tensor) -> Tensor:
        att1, att2, v = self.attention(x)
        out = (att1 - self.alpha().to(att1.dtype) * att2) @ v
        return self.proj(_unheads(out, x.shape[-2], x.shape[-1]))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.head_dim}, alpha_init={self.alpha_init:.4f}"


class SFDHBlock(nn.Module):
    """Spatial-frequency differential hybrid block (AIBNet eq. 1; spec §2)::

        X' = X + SCA_branch(LN₁(X)) + W·SFEM(LN₁(X))
        X_l = X' + 1×1 c→c(SG(dw3×3(1×1 c→2c(LN₂(X')))))

    ``SCA_branch`` is NAFNet's spatial path (1×1 c→2c, dw3×3, SimpleGate, SCA, 1×1 c→c); ``W``
    a learnable scalar (init 1); no β/γ residual scales; LN eps 1e-6. Parameters
    ``13c² + 107c + h + 4d + 1`` (SFDH(64) = 60,354); with ``sfem=False`` (Table 3
    ablation) the SFEM term and ``W`` are absent (``7c² + 51c``).

    Args:
        channels: ``c``.
        index: 1-based position ``l`` in the level (SFEM's ``α_init``).
        head_channels: channels per attention head.
        sfem: include the SFEM branch.
    """

    def __init__(self, channels: int, index: int = 1, head_channels: int = 64, sfem: bool = True) -> None:
        super().__init__()
        c = int(channels)
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, 2 * c, 1)
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.sg = SimpleGate()
        self.sca = SimplifiedChannelAttention(c)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.sfem = SFEM(c, index, head_channels) if sfem else None
        self.sfem_weight = nn.Parameter(torch.ones(())) if sfem else None
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv4_dw = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.conv5 = nn.Conv2d(c, c, 1)

    def sca_branch(self, x: Tensor) -> Tensor:
        """NAFNet's spatial path on a normalised input."""
        return self.conv3(self.sca(self.sg(self.conv2(self.conv1(x)))))

    def feed_forward(self, x: Tensor) -> Tensor:
        """The FFN with its 3×3 depthwise conv, on a normalised input."""
        return self.conv5(self.sg(self.conv4_dw(self.conv4(x))))

    def forward(self, x: Tensor) -> Tensor:
        n = self.norm1(x)
        y = x + self.sca_branch(n)
        if self.sfem is not None:
            y = y + self.sfem_weight * self.sfem(n)
        return y + self.feed_forward(self.norm2(y))


class HighFrequencyDecoupler(nn.Module):
    """The high-frequency part of FSNet's ``dynamic_filter`` (c-yn/FSNet; spec §4)::

        g = softmax_{k²}( BN(1×1 c→G·k², no bias (GAP(X))) )      (B, G, k²), ≥ 0, Σ = 1
        low = per-group k×k filtering of reflect-padded X            (channels c·g/G … share g)
        X_h = X − low

    The low-pass kernels are applied by correlation with the taps in ``F.unfold`` order
    (row-major), exactly as FSNet's unfold/sum; implemented as one grouped convolution.
    Parameters ``G·k²·c + 2·G·k²`` (BN affine; its running statistics are buffers).

    Args:
        channels: ``c`` (divisible by ``groups``).
        kernel_size: ``k`` (3).
        groups: ``G`` (8).
    """

    def __init__(self, channels: int, kernel_size: int = 3, groups: int = 8) -> None:
        super().__init__()
        c, k, g = int(channels), int(kernel_size), int(groups)
        if k < 1 or k % 2 == 0:
            raise ConfigError(f"aibnet: decoupler_kernel must be odd and ≥ 1, got {k}")
        if g < 1 or c % g:
            raise ConfigError(f"aibnet: width {c} is not divisible by decoupler_groups={g}; use a width that is a multiple of {g}")
        self.channels, self.kernel_size, self.groups = c, k, g
        self.conv = nn.Conv2d(c, g * k * k, 1, bias=False)
        self.bn = nn.BatchNorm2d(g * k * k)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")  # FSNet's init

    def kernels(self, x: Tensor) -> Tensor:
        """The per-sample low-pass kernels ``(B, G, k, k)`` (non-negative, each summing to 1)."""
        b = x.shape[0]
        if self.training and b == 1:
            raise InputError(
                "aibnet HFSBlock: the Decoupler's BatchNorm (FSNet) needs a batch of at least 2 images in "
                "training mode; use train.batch_size ≥ 2 (or call .eval())"
            )
        logits = self.bn(self.conv(F.adaptive_avg_pool2d(x, 1)))
        k = self.kernel_size
        return torch.softmax(logits.reshape(b, self.groups, k * k), dim=-1).reshape(b, self.groups, k, k)

    def low_pass(self, x: Tensor, kernels: Tensor) -> Tensor:
        """``x`` ``(B, c, H, W)`` filtered per group with ``kernels`` ``(B, G, k, k)``."""
        b, c, hgt, wid = x.shape
        k, g = self.kernel_size, self.groups
        weight = kernels.to(x.dtype).repeat_interleave(c // g, dim=1).reshape(b * c, 1, k, k)
        padded = F.pad(x, (k // 2,) * 4, mode="reflect") if k > 1 else x
        out = F.conv2d(padded.reshape(1, b * c, hgt + 2 * (k // 2), wid + 2 * (k // 2)), weight, groups=b * c)
        return out.reshape(b, c, hgt, wid)

    def forward(self, x: Tensor) -> Tensor:
        """``X_h = X − low`` ``(B, c, H, W)``."""
        return x - self.low_pass(x, self.kernels(x))


class HFSBlock(nn.Module):
    """High-frequency selection block (AIBNet eqs. 4–5; spec §4)::

        X_h = Decoupler(X_N)
        Q, K, V = split(dw3×3(1×1 c→3c (X_h)))                    each (B, h, d, HW)
        S = Q̂ K̂ᵀ / β                                              (B, h, d, d)
        M_i = softmax(top-k_i(S)),  entries outside each row's top k_i set to −∞
        X_sh = X_N + reshape(Σ_i λ_i M_i V)

    ``k_i = ⌊d·i/(i+1)⌋`` (``mask_ratios`` overrides the ratios); ``λ_i`` learnable, init
    0.2; ``β`` per head, init √d; no output projection. ``Σ_i λ_i M_i`` is formed first and
    multiplied with ``V`` once (the same value as Σ_i λ_i (M_i V)). Parameters
    ``3c² + 33c + h + n_m`` plus the Decoupler's (HFS(64) = 19,157).

    Args:
        channels: ``c``.
        num_masks: ``n_m`` (4; Table 4).
        mask_ratios: the kept fraction of each mask (default ``i/(i+1)``).
        head_channels: channels per attention head.
        decoupler_kernel: the Decoupler's ``k`` (3).
        decoupler_groups: the Decoupler's ``G`` (8).
    """

    def __init__(
        self,
        channels: int,
        num_masks: int = 4,
        mask_ratios: list[float] | None = None,
        head_channels: int = 64,
        decoupler_kernel: int = 3,
        decoupler_groups: int = 8,
    ) -> None:
        super().__init__()
        c = int(channels)
        self.heads, self.head_dim = head_layout(c, head_channels)
        self.sizes = mask_sizes(self.head_dim, num_masks, mask_ratios)
        self.decoupler = HighFrequencyDecoupler(c, decoupler_kernel, decoupler_groups)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.qkv_dw = nn.Conv2d(3 * c, 3 * c, 3, padding=1, groups=3 * c)
        self.temperature = nn.Parameter(torch.full((1, self.heads, 1, 1), math.sqrt(self.head_dim)))
        self.mask_weights = nn.Parameter(torch.full((len(self.sizes),), 0.2))

    def scores(self, x_high: Tensor) -> tuple[Tensor, Tensor]:
        """``(S, V)``: the logits ``(B, h, d, d)`` and ``V`` ``(B, h, d, HW)`` from ``X_h``."""
        q, k, v = self.qkv_dw(self.qkv(x_high)).chunk(3, dim=1)
        q, k = F.normalize(_heads(q, self.heads), dim=-1), F.normalize(_heads(k, self.heads), dim=-1)
        return q @ k.transpose(-2, -1) / self.temperature, _heads(v, self.heads)

    def masked_attentions(self, scores: Tensor) -> list[Tensor]:
        """``[M_1, …, M_n]``: each row keeps its ``k_i`` largest logits (DRSformer's top-k
        scatter), the rest are −∞ before the softmax, so a row has exactly ``k_i`` non-zeros."""
        d = scores.shape[-1]
        order = scores.argsort(dim=-1, descending=True) if any(k < d for k in self.sizes) else None
        out = []
        for k in self.sizes:
            if k >= d or order is None:
                out.append(torch.softmax(scores, dim=-1))
                continue
            keep = torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, order[..., :k], True)
            out.append(torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1))
        return out

    def forward(self, x: Tensor) -> Tensor:
        scores, v = self.scores(self.decoupler(x))
        masks = self.masked_attentions(scores)
        mixed = sum(w * m for w, m in zip(self.mask_weights.to(scores.dtype), masks))
        return x + _unheads(mixed @ v, x.shape[-2], x.shape[-1])

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.head_dim}, mask_sizes={self.sizes}"

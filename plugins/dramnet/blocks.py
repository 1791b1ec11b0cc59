"""The DRAMBlock and its parts (paper Sec. 3.1, eq. 2; specs/dramnet.md §3.2).

::

    F_rev  = up(a) + down(b)                           (the level input)
    F_FFT  = FCNAFBlock(F_rev) − F_rev                 (Fourier expert, AdaRevD)
    B̃      = clamp(S ∗ bicubic_up(B_pred), 0, 1)       (blur map at feature resolution)
    F_WAV  = IDWT(Z_LL, (1 + pool2 B̃)·Z_{LH,HL,HH}),  Z = Conv1×1(DWT(F_rev))   (wavelet expert)
    (w1, w2) = softmax(MLP(B̃))                          (blur-gated mixer)
    F_att  = W_o(softmax(τ q̂ k̂ᵀ) v),  q = W_q LN(F_rev), k = W_k B̃, v = W_v B̃   (cross-attention)
    F_out  = F_rev + w1·F_FFT + w2·F_WAV + F_att        (eq. 2)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit.layers import FCNAFBlock, LayerNorm2d, haar_dwt2, haar_idwt2

__all__ = [
    "BlurGatedMixer",
    "BlurGuidedAttention",
    "DRAMBlock",
    "WaveletExpert",
    "binomial_smooth",
    "blur_at",
]


def binomial_smooth(x: Tensor) -> Tensor:
    """The fixed 3×3 binomial filter ``[1,2,1]ᵀ[1,2,1]/16`` with replicate padding (spec §3.2,
    our choice for the paper's "3×3 smoothing filter"). Shapes: ``(B, C, h, w)`` kept."""
    k1 = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device) / 4.0
    k = (k1[:, None] * k1[None, :]).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])


def blur_at(blur_map: Tensor, size: tuple[int, int]) -> Tensor:
    """``B̃ = clamp(S ∗ bicubic_up(B_pred → size), 0, 1)`` (bicubic, align_corners = False).

    Shapes: ``(B, 1, h, w) → (B, 1, *size)``.
    """
    up = F.interpolate(blur_map, size=size, mode="bicubic", align_corners=False)
    return binomial_smooth(up).clamp(0.0, 1.0)


class WaveletExpert(nn.Module):
    """Haar wavelet expert: ``IDWT(Z_LL, g·Z_LH, g·Z_HL, g·Z_HH)`` with ``Z = Conv1×1(4c → 4c)``
    of the orthonormal Haar bands of the input and ``g = 1 + avgpool2(B̃)``, so blurrier
    regions get their high-frequency bands amplified. 16c² + 4c parameters.

    Shapes: ``(B, c, H, W)``, ``B̃`` ``(B, 1, H, W)`` → ``(B, c, H, W)`` (H, W even).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(4 * channels, 4 * channels, 1)

    def forward(self, x: Tensor, blur: Tensor) -> Tensor:
        dtype = x.dtype
        wide = torch.promote_types(dtype, torch.float32)  # ptwt rejects half/bfloat16: transforms in fp32 under AMP
        with torch.autocast(device_type=x.device.type, enabled=False):
            bands = haar_dwt2(x.to(wide))
        z = self.mix(torch.cat(bands, dim=1))
        with torch.autocast(device_type=x.device.type, enabled=False):
            ll, lh, hl, hh = z.to(wide).chunk(4, dim=1)
            gain = 1.0 + F.avg_pool2d(blur.to(wide), 2)
            out = haar_idwt2(ll, lh * gain, hl * gain, hh * gain)
        return out.to(dtype)


class BlurGatedMixer(nn.Module):
    """Per-pixel expert weights ``(w1, w2) = softmax(Conv1×1(16→2)(GELU(Conv1×1(1→16)(B̃))))``
    (our choice: a per-pixel MLP, 66 parameters); ``w1 + w2 = 1``.

    Shapes: ``(B, 1, H, W) → (B, 2, H, W)``.
    """

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(1, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, 2, 1)

    def forward(self, blur: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(blur))).softmax(dim=1)


class BlurGuidedAttention(nn.Module):
    """Blur-guided cross-attention, transposed (channel) form, linear in the number of pixels
    (our choice, spec §3.2): queries from the features, keys and values from the blur map::

        q = W_q LN(F)  (1×1 c→c, no bias);  k = W_k B̃,  v = W_v B̃  (1×1 1→c, no bias)
        per head (d = c/h channels): q̂, k̂ = L2-normalised over the pixels;
        A = softmax(τ q̂ k̂ᵀ)  (d×d, τ per head, init 1);  F_att = W_o(A v)  (1×1 c→c, bias)

    ``k`` and ``v`` have no bias, so ``A v = 0`` when ``B̃ = 0``; the bias of ``W_o`` starts at
    zero (our choice), so a new block adds nothing where the map is zero. 2c² + 5c + h parameters.

    Shapes: ``(B, c, H, W)``, ``(B, 1, H, W)`` → ``(B, c, H, W)``.
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"BlurGuidedAttention: {channels} channels do not split into {heads} heads")
        self.heads = int(heads)
        self.norm = LayerNorm2d(channels)
        self.q = nn.Conv2d(channels, channels, 1, bias=False)
        self.k = nn.Conv2d(1, channels, 1, bias=False)
        self.v = nn.Conv2d(1, channels, 1, bias=False)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, blur: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q = self.q(self.norm(x)).reshape(b, self.heads, c // self.heads, h * w)
        k = self.k(blur).reshape(b, self.heads, c // self.heads, h * w)
        v = self.v(blur).reshape(b, self.heads, c // self.heads, h * w)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.proj((attn @ v).reshape(b, c, h, w))


class DRAMBlock(nn.Module):
    """DRAMNet's block (paper eq. 2), replacing AdaRevD's FCNAFBlock at every decoder level.

    ``forward(F_rev, B̃, exit_mask=None, force_fourier=False)``::

        y     = FCNAFBlock(F_rev)                       (so F_FFT = y − F_rev)
        F_out = y + w2·(F_WAV − F_FFT) + F_att          (= F_rev + w1 F_FFT + w2 F_WAV + F_att, w1 + w2 = 1)

    written in the second form so that ``w2 = 0`` and ``F_att = 0`` give exactly ``y``. With
    ``blur=None`` (blur-map branch off) or for samples whose ``exit_mask`` is true (early
    exit), the wavelet expert and the attention are skipped and ``F_out = FCNAFBlock(F_rev)``,
    the AdaRevD block exactly. ``force_fourier`` sets ``w1 = 1`` (tests).

    Extra parameters over FCNAFBlock(c): 16c² + 4c (wavelet) + 66 (mixer) + 2c² + 5c + h (attention).

    Shapes: ``(B, c, H, W)``, ``B̃`` ``(B, 1, H, W)`` or ``None``, ``exit_mask`` ``(B,)`` bool → ``(B, c, H, W)``.
    """

    def __init__(self, channels: int, heads: int, blur_guided: bool = True) -> None:
        super().__init__()
        self.fcnaf = FCNAFBlock(channels)
        self.blur_guided = bool(blur_guided)
        if blur_guided:
            self.wavelet = WaveletExpert(channels)
            self.mixer = BlurGatedMixer()
            self.attention = BlurGuidedAttention(channels, heads)

    def guided(self, x: Tensor, y: Tensor, blur: Tensor, force_fourier: bool = False) -> Tensor:
        """The full eq. (2) given ``y = FCNAFBlock(x)``."""
        f_fft = y - x
        f_wav = self.wavelet(x, blur)
        f_att = self.attention(x, blur)
        if force_fourier:
            return y + f_att
        w2 = self.mixer(blur)[:, 1:2]
        return y + w2 * (f_wav - f_fft) + f_att

    def forward(self, x: Tensor, blur: Tensor | None = None, exit_mask: Tensor | None = None, force_fourier: bool = False) -> Tensor:
        y = self.fcnaf(x)
        if not self.blur_guided or blur is None:
            return y
        if exit_mask is None or not bool(exit_mask.any()):
            return self.guided(x, y, blur, force_fourier)
        if bool(exit_mask.all()):
            return y
        keep = (~exit_mask).nonzero().flatten()
        out = y.clone()
        out[keep] = self.guided(x[keep], y[keep], blur[keep], force_fourier)
        return out

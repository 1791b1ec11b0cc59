"""``nrknet.coefficients``: the scale-recurrent U-Net + APU that predicts the RKR weights Γ.

Spec nrknet.md §2 (paper Sec. 3.3, Fig. 3; official ``NRKNet.py``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorekit import BlurEstimate, BlurEstimator, ConfigError, Features, InputError
from restorekit.interfaces import Batch

from .atoms import coefficient_contract, num_coefficients
from .layers import AttentionPredictionUnit, BasicConv, ResStage
from .pyramid import nearest_pyramid

__all__ = ["RKRCoefficientEstimator", "num_coefficients", "identity_mixing_", "xavier_init_"]


class RKRCoefficientEstimator(BlurEstimator):
    """Predicts per-scale RKR weights Γ_t with a U-Net shared across scales (scale-recurrent).

    Architecture (widths ``w = widths``; official: 64/128/256, one ResBlock per stage)::

        feat_extract.0  Conv3×3+ReLU     C→w0       s       Encoder.0  ResBlock(w0)
        feat_extract.1  Conv3×3 s2+ReLU  w0→w1      s/2     Encoder.1  ResBlock(w1)
        feat_extract.2  Conv3×3 s2+ReLU  w1→w2      s/4     Encoder.2  ResBlock(w2)
        bottleneck      Conv3×3+ReLU, ResBlock(w2)  s/4
        Decoder.0       ResBlock on (res3 + bottleneck),  feat_extract.3 ConvT4×4 s2 w2→w1
        Decoder.1       ResBlock on (· + res2),           feat_extract.4 ConvT4×4 s2 w1→w0
        Decoder.2       ResBlock on (· + res1)
        APU             Γ head w0→G  (see :class:`AttentionPredictionUnit`)

    The scales are processed coarse → fine on the nearest-decimated pyramid
    ``Y_3 (H/4), Y_2 (H/2), Y_1 (H)``; the ConvLSTM state ``(h, c)`` starts as zeros at
    ``(H/8, W/8)`` and is bilinearly upsampled ×2 (align_corners = False) between scales.

    Output: ``BlurEstimate(coefficients=[Γ_1 (B,G,H,W), Γ_2 (B,G,H/2,W/2), Γ_3 (B,G,H/4,W/4)])``
    — finest first, as :class:`restorekit.BlurEstimate` specifies. Γ is signed and
    unnormalised (paper eq. 11 weights; no softmax).

    Args:
        form: ``"reference"`` (official code, G = J + 1) or ``"paper"`` (G = J); must match
            the operator ``nrknet.rkr``'s ``form``.
        num_kernels: J, the number of recursive atoms (21 official, 20 paper).
        widths: U-Net channel widths of the three levels (tiny widths for tests).
        num_res: ResBlocks per stage (1 in NRKNet).
        num_scales: pyramid levels (3 in NRKNet).
        lstm_kernel: ConvLSTM kernel size (5).
        in_channels: image channels (3, RGB).
        condition_on_map: (our extension for mixed pipelines) when true the blur map of an
            earlier estimator (``BlurEstimate.map`` (B,1,h,w), e.g. from
            ``dramnet.laplacian_bme``) is bilinearly resized (align_corners = False) to each
            scale's resolution and concatenated as one extra input channel after the image
            channels, so ``feat_extract.0`` takes ``in_channels + 1`` channels and
            ``requires = {"map"}``. An official checkpoint can still be loaded by
            :func:`restorekit.plugins.nrknet.convert.convert_official_state_dict` with
            ``extra_input_channels=1`` (the extra input weights start at zero).
        init: ``"default"`` (PyTorch's default init: what the official code actually uses, since
            its Xavier flag is never read, and what the released weights were trained from;
            the reference form ``pipelines/nrknet.yaml`` keeps it), ``"xavier"`` (paper Sec. 4.1:
            "all learnable parameters are initialised by Xavier"; ``pipelines/nrknet_paper.yaml``
            uses it: every conv, transposed-conv and ConvLSTM weight ``xavier_uniform_`` with
            gain 1, biases 0, BatchNorm affine left at 1/0 — our reading, since Xavier is not
            defined for 1-D parameters) or ``"identity"`` (**our choice**, optional, for short runs):
            the APU head starts with Γ_0 ≈ 1 and Γ_{j≥1} = 0 at every pixel and scale
            (:meth:`AttentionPredictionUnit.init_identity_`), so with a plain-sum operator
            (``form: paper``, or the reference form after :func:`identity_mixing_`) ``D ≈ I``
            and the Neumann decoder starts at ``Z_0 ≈ Y`` instead of ``≈ 4Y − …``. Only the
            initial values change; shapes, parameter counts and checkpoints are unaffected.

    Input height and width must be multiples of ``size_multiple`` = 4·2^(num_scales−1)
    (16 for NRKNet); ``restorekit deblur`` reflect-pads to it.

    Choices:
        - Architecture, scale recurrence, ConvLSTM head and Γ without softmax: the official
          ``NRKNet.py`` (outputs agree with it to 7.2e-7; paper Sec. 3.3, Fig. 3).
        - ``init: default`` = PyTorch default init (the official code's behaviour; its Xavier
          flag is never read, and the released weights come from it); ``init: xavier`` = the
          paper's statement (Sec. 4.1), used by ``pipelines/nrknet_paper.yaml``; biases 0 and
          BatchNorm affine 1/0 under Xavier (our choice: Xavier is undefined for 1-D tensors).
        - ``init: identity`` (our choice, off by default): starts at D = I for short CPU runs.
        - ``condition_on_map`` (our extension for mixed pipelines): the blur map is resized
          bilinearly to each scale and concatenated as one extra input channel.
        - Nearest-decimated input pyramid and bilinear ConvLSTM-state upsampling
          (align_corners = False): the official code.
    """

    provides = frozenset({"coefficients"})
    requires = frozenset()

    def __init__(
        self,
        form: Literal["paper", "reference"] = "reference",
        num_kernels: int = 21,
        widths: list[int] = [64, 128, 256],  # noqa: B006 - copied below, never mutated
        num_res: int = 1,
        num_scales: int = 3,
        lstm_kernel: int = 5,
        in_channels: int = 3,
        condition_on_map: bool = False,
        init: Literal["default", "xavier", "identity"] = "default",
    ) -> None:
        super().__init__()
        if form not in ("paper", "reference"):
            raise ConfigError(f"nrknet.coefficients: form must be 'paper' or 'reference', got {form!r}")
        if num_kernels < 1:
            raise ConfigError(f"nrknet.coefficients: num_kernels must be >= 1, got {num_kernels}")
        if len(widths) != 3 or any(w < 1 for w in widths):
            raise ConfigError(f"nrknet.coefficients: widths must be 3 positive channel counts, e.g. [64, 128, 256]; got {widths}")
        if num_scales < 1 or num_res < 1 or lstm_kernel < 1 or lstm_kernel % 2 == 0:
            raise ConfigError("nrknet.coefficients: num_scales and num_res must be >= 1 and lstm_kernel a positive odd number")
        if init not in ("default", "xavier", "identity"):
            raise ConfigError(f"nrknet.coefficients: init must be 'default', 'xavier' or 'identity', got {init!r}")
        self.form = form
        self.init = init
        self.num_kernels = int(num_kernels)
        self.widths = list(widths)
        self.num_scales = int(num_scales)
        self.in_channels = int(in_channels)
        self.condition_on_map = bool(condition_on_map)
        self.num_coefficients = num_coefficients(form, num_kernels)
        self.size_multiple = 4 * 2 ** (self.num_scales - 1)
        if condition_on_map:
            self.requires = frozenset({"map"})
        w0, w1, w2 = self.widths
        c_in = self.in_channels + (1 if condition_on_map else 0)
        self.feat_extract = nn.ModuleList(
            [
                BasicConv(c_in, w0, 3, stride=1),
                BasicConv(w0, w1, 3, stride=2),
                BasicConv(w1, w2, 3, stride=2),
                BasicConv(w2, w1, 4, stride=2, transpose=True),
                BasicConv(w1, w0, 4, stride=2, transpose=True),
            ]
        )
        self.Encoder = nn.ModuleList([ResStage(w0, num_res), ResStage(w1, num_res), ResStage(w2, num_res)])
        self.Decoder = nn.ModuleList([ResStage(w2, num_res), ResStage(w1, num_res), ResStage(w0, num_res)])
        self.bottleneck = nn.Sequential(BasicConv(w2, w2, 3, stride=1), ResStage(w2, num_res))
        self.APU = AttentionPredictionUnit(w0, self.num_coefficients, lstm_kernel)
        if init == "identity":
            self.APU.init_identity_()
        elif init == "xavier":
            xavier_init_(self)

    # ------------------------------------------------------------------------------------
    def provides_spec(self) -> dict:
        """Γ contract: representation ``nrknet.rkr/<form>/J=<num_kernels>``, G channels, ``num_scales`` scales."""
        return {"coefficients": coefficient_contract(self.form, self.num_kernels, self.num_scales)}

    def unet(self, x: Tensor) -> Tensor:
        """The shared U-Net: (B, C_in, s, s') → decoder features (B, w0, s, s')."""
        res1 = self.Encoder[0](self.feat_extract[0](x))
        res2 = self.Encoder[1](self.feat_extract[1](res1))
        res3 = self.Encoder[2](self.feat_extract[2](res2))
        z = self.bottleneck(res3)
        z = self.feat_extract[3](self.Decoder[0](res3 + z))
        z = self.feat_extract[4](self.Decoder[1](z + res2))
        return self.Decoder[2](z + res1)

    def check_image(self, image: Tensor) -> None:
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise InputError(
                f"nrknet.coefficients expects images (B, {self.in_channels}, H, W), got {tuple(image.shape)}; "
                f"set in_channels to the number of colour channels"
            )
        m = self.size_multiple
        if image.shape[-1] % m or image.shape[-2] % m or min(image.shape[-2:]) < 2 * m:
            raise InputError(
                f"nrknet.coefficients needs height and width that are multiples of {m} and at least {2 * m}, "
                f"got {tuple(image.shape[-2:])}; reflect-pad the image (restorekit deblur does this)"
            )

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate, batch: Batch) -> BlurEstimate:
        """``image`` (B, C, H, W) → Γ per scale, finest first (see class docstring)."""
        self.check_image(image)
        pyramid = nearest_pyramid(image, self.num_scales)  # finest first
        blur_map = None
        if self.condition_on_map:
            blur_map = estimate.map if estimate is not None else None
            if blur_map is None:
                raise InputError(
                    "nrknet.coefficients has condition_on_map: true but no earlier blur estimator produced a "
                    "'map'; put a map estimator (e.g. dramnet.laplacian_bme) before it or set condition_on_map: false"
                )
            if blur_map.dim() != 4 or blur_map.shape[1] != 1 or blur_map.shape[0] != image.shape[0]:
                raise InputError(f"nrknet.coefficients: the blur map must be (B, 1, h, w) with B = {image.shape[0]}, got {tuple(blur_map.shape)}")
        coarsest = pyramid[-1]
        state = self.APU.conv_atten.init_state(image.shape[0], coarsest.shape[-2] // 2, coarsest.shape[-1] // 2, image)
        gammas: list[Tensor] = []
        for t, y in enumerate(reversed(pyramid)):  # coarse → fine
            x = y
            if blur_map is not None:
                m = F.interpolate(blur_map.to(y.dtype), size=y.shape[-2:], mode="bilinear", align_corners=False)
                x = torch.cat((y, m), dim=1)  # [image ‖ map]: (B, C + 1, h, w)
            gamma, h, c = self.APU(self.unet(x), state)
            gammas.append(gamma)
            if t < self.num_scales - 1:
                state = (
                    F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False),
                    F.interpolate(c, scale_factor=2.0, mode="bilinear", align_corners=False),
                )
        return BlurEstimate(coefficients=gammas[::-1])


@torch.no_grad()
def xavier_init_(module: nn.Module) -> None:
    """Paper Sec. 4.1 ("initialised by Xavier"), our reading: every weight of 2 or more
    dimensions (convolutions, transposed convolutions, the ConvLSTM gates) gets
    ``xavier_uniform_`` (gain 1), every bias 0; BatchNorm affine parameters keep 1 / 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@torch.no_grad()
def identity_mixing_(operator: nn.Module) -> None:
    """Initialise a reference-form ``nrknet.rkr`` mixing as the plain sum of paper eq. 4
    (**our choice**, the companion of ``init: identity``): ``W[c, C·j + c] = 1`` for every
    term j and colour c, all other weights 0, bias ``b = 0``; so
    ``D(Y) = Σ_j Γ_j ⊙ B_j Y`` and Γ_0 = 1, Γ_{j≥1} = 0 give ``D = I``. The mixing stays
    trainable. No-op for the paper form (it has no mixing).

    Args:
        operator: a :class:`restorekit.plugins.nrknet.rkr.RecursiveKernelOperator`
            (``mixing.weight`` (C, C(J+1), 1, 1), ``mixing.bias`` (C,)).
    """
    form = getattr(operator, "form", None)
    if form == "paper":
        return
    mixing = getattr(operator, "mixing", None)
    if form != "reference" or not isinstance(mixing, nn.Conv2d):
        raise ConfigError(
            f"identity_mixing_ expects an nrknet.rkr operator (form 'reference' or 'paper'), got {type(operator).__name__}"
        )
    c = int(operator.channels)
    terms = mixing.weight.shape[1] // c
    eye = torch.eye(c, dtype=mixing.weight.dtype, device=mixing.weight.device)
    mixing.weight.copy_(eye.repeat(1, terms)[:, :, None, None])
    mixing.bias.zero_()

"""``dramnet.reversible``: DRAMNet's blur-adaptive reversible decoder (the pipeline component)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from restorekit import BlurEstimate, ConfigError, Decoder, DecoderOutput, Features, InputError, Operator, PieceSpec

from .bme import BLUR_MAP_REPRESENTATION
from .depth_anything import pyramid_representation
from .reversible import AdaRevDClassifier, SubDecoder, run_plain, run_reversible

__all__ = ["ReversibleDecoder"]


class ReversibleDecoder(Decoder):
    """DRAMNet's decoder: AdaRevD's reversible sub-decoders of blur-map-guided DRAMBlocks (eq. 2).

    Paper Sec. 3.1, eq. 2; spec §3.

    Inputs: the encoder pyramid ``Features.maps = [e0, e1, e2, e3, e4]`` with channels
    ``[c3, c2, c1, c0, 2·c0]`` (default [64, 128, 256, 512, 1024]) at strides 1…16, and the
    blur map ``BlurEstimate.map`` ``(B, 1, h, w)`` in [0, 1] (``dramnet.laplacian_bme``'s
    ``B_pred^0``). ``num_subdecoders`` sub-decoders run the reversible recurrence (see
    :mod:`.reversible`); each has a head ``Conv3×3(c3 → 3)``; the output is
    ``head(c3) + image`` of the last one.

    Output: ``restored`` (B, 3, H, W); ``intermediates`` — the outputs of every sub-decoder,
    last first, with ``deep_supervision: true`` (else ``[restored]``); ``extras``:
    ``exit_mask`` (B,) when the early exit ran, ``exit_logits`` (B, 6) with ``classifier``,
    ``subdecoders_used`` (B,) with an ``exit_table``.

    Args:
        channels: level channels ``[c0, c1, c2, c3]`` at ``[H/8, H/4, H/2, H]`` ([512, 256, 128, 64]).
        num_subdecoders: N_sub (4, as AdaRevD-B).
        heads: attention heads per level (default ``max(1, c // 64)``, i.e. 64 channels per head).
        use_blur_map: Table-4 switch "blur-map branch": ``false`` builds AdaRevD's FCNAFBlocks
            only (no wavelet expert, mixer or attention) and does not need a map.
        save_memory: train through the reversible path (:class:`~.reversible.ReversibleColumns`);
            ``false`` (and always without gradients) runs the plain path, which gives identical outputs.
        early_exit: at inference, samples whose ``max B_pred < exit_threshold`` skip the wavelet
            expert and the attention (``F_out = FCNAFBlock(F_rev)``).
        exit_threshold: τ_exit (0.01, in the units of eq. 1).
        deep_supervision: return every sub-decoder's output in ``intermediates`` (for a loss with
            ``target: intermediates``, e.g. ``standard.l1`` with ``scale_weights: [0.25, 0.25, 0.25, 0.25]``).
        classifier: add AdaRevD's degradation classifier on e3 (10,001,932 parameters at the
            default widths); its logits go to ``extras["exit_logits"]`` (loss ``dramnet.exit_classes``).
        exit_table: class → number of sub-decoders at inference (AdaRevD-B: [4, 4, 3, 3, 2, 1] or
            [4, 3, 2, 2, 1, 1]); needs ``classifier: true``.
        zero_init_heads: start every head at zero so the decoder starts as the identity
            (our option for short runs; AdaRevD uses PyTorch's default init).

    Input height and width must be multiples of 16 (112 in a pipeline with the ViT/14 encoder).

    Choices:
        - N_sub = 4 sub-decoders (our choice, as AdaRevD-B); loss on the last output only,
          ``deep_supervision`` for AdaRevD-style per-head supervision (our choice)
        - B̃ = clamp(binomial3×3 ∗ bicubic_up(B_pred)) (our choice for the paper's "3×3 smoothing filter")
        - per-pixel mixer MLP 1→16→2 with softmax (our choice; paper: w1 + w2 = 1)
        - blur-guided attention in transposed (channel) form, 64 channels per head, zero-init
          output bias (our choice: linear in the pixel count)
        - early exit per sample at max B_pred < 0.01, inference only (our choice of τ_exit)
        - the reversible stream (c0..c3) is kept in float32 at least under AMP (our choice:
          exact inversion); α clamped to |α| ≥ 1e-3 in place before each forward (AdaRevD)
        - the classifier sees e3 detached (our choice: its loss does not shape the encoder)
    """

    provides = frozenset()
    requires = frozenset({"features", "map"})

    def __init__(
        self,
        channels: list[int] = [512, 256, 128, 64],  # noqa: B006 - copied, never mutated
        num_subdecoders: int = 4,
        heads: list[int] | None = None,
        use_blur_map: bool = True,
        save_memory: bool = True,
        early_exit: bool = True,
        exit_threshold: float = 0.01,
        deep_supervision: bool = False,
        classifier: bool = False,
        exit_table: list[int] | None = None,
        zero_init_heads: bool = False,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(channels) != 4 or any(int(c) < 1 for c in channels):
            raise ConfigError(f"dramnet.reversible: channels must be 4 level widths [c0, c1, c2, c3], e.g. [512, 256, 128, 64]; got {channels}")
        ch = [int(c) for c in channels]
        if any(ch[i] != 2 * ch[i + 1] for i in range(3)):
            raise ConfigError(f"dramnet.reversible: each level must have twice the channels of the next finer one (pixel-shuffle up path), got {ch}")
        if num_subdecoders < 1:
            raise ConfigError(f"dramnet.reversible: num_subdecoders must be >= 1, got {num_subdecoders}")
        hs = [max(1, c // 64) for c in ch] if heads is None else [int(h) for h in heads]
        if len(hs) != 4 or any(h < 1 or c % h for h, c in zip(hs, ch)):
            raise ConfigError(f"dramnet.reversible: heads must give 4 positive head counts dividing the channels {ch}, got {heads}")
        if exit_table is not None:
            if not classifier:
                raise ConfigError("dramnet.reversible: exit_table needs classifier: true (the classifier picks the row)")
            if len(exit_table) != 6 or any(not 1 <= int(n) <= num_subdecoders for n in exit_table):
                raise ConfigError(f"dramnet.reversible: exit_table must give 6 sub-decoder counts in 1..{num_subdecoders}, got {exit_table}")
        self.channels = ch
        self.heads = hs
        self.num_subdecoders = int(num_subdecoders)
        self.use_blur_map = bool(use_blur_map)
        self.save_memory = bool(save_memory)
        self.early_exit = bool(early_exit)
        self.exit_threshold = float(exit_threshold)
        self.deep_supervision = bool(deep_supervision)
        self.exit_table = None if exit_table is None else [int(n) for n in exit_table]
        self.in_channels = int(in_channels)
        self.size_multiple = 16
        self.pyramid = [ch[3], ch[2], ch[1], ch[0], 2 * ch[0]]
        self.requires = frozenset({"features", "map"}) if use_blur_map else frozenset({"features"})
        self.provides = frozenset({"exit_logits"}) if classifier else frozenset()
        self.subdecoders = nn.ModuleList([SubDecoder(ch, hs, self.use_blur_map) for _ in range(self.num_subdecoders)])
        self.heads_out = nn.ModuleList([nn.Conv2d(ch[3], self.in_channels, 3, padding=1) for _ in range(self.num_subdecoders)])
        if zero_init_heads:
            for h in self.heads_out:
                nn.init.zeros_(h.weight)
                nn.init.zeros_(h.bias)
        self.classifier = AdaRevDClassifier(ch[0]) if classifier else None

    def requires_spec(self) -> dict[str, PieceSpec]:
        spec = {
            "features": PieceSpec(
                representation=pyramid_representation(self.pyramid),
                hint=f"set the encoder's channels to {self.pyramid} (= [c3, c2, c1, c0, 2·c0] of the decoder's channels)",
            )
        }
        if self.use_blur_map:
            spec["map"] = PieceSpec(representation=BLUR_MAP_REPRESENTATION, channels=1)
        return spec

    # ------------------------------------------------------------------------------------
    def _pyramid(self, image: Tensor, features: Features | None) -> list[Tensor]:
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise InputError(f"dramnet.reversible expects images (B, {self.in_channels}, H, W), got {tuple(image.shape)}")
        if image.shape[-1] % 16 or image.shape[-2] % 16:
            raise InputError(
                f"dramnet.reversible needs height and width divisible by 16 (112 with the ViT/14 encoder), got "
                f"{tuple(image.shape[-2:])}; reflect-pad the image (restorekit deblur does this)"
            )
        if features is None or len(features.maps) != 5:
            got = "no features" if features is None else f"{len(features.maps)} maps"
            raise InputError(f"dramnet.reversible needs the 5-map pyramid [e0 … e4] of dramnet.depth_anything, got {got}")
        h, w = image.shape[-2:]
        for k, (m, c) in enumerate(zip(features.maps, self.pyramid)):
            expect = (image.shape[0], c, h // 2**k, w // 2**k)
            if tuple(m.shape) != expect:
                raise InputError(f"dramnet.reversible: feature map e{k} has shape {tuple(m.shape)}, expected {expect}")
        return list(features.maps)

    def _blur_map(self, image: Tensor, estimate: BlurEstimate | None) -> Tensor | None:
        if not self.use_blur_map:
            return None
        m = estimate.map if estimate is not None else None
        if m is None:
            raise InputError("dramnet.reversible needs a blur map (BlurEstimate.map) from dramnet.laplacian_bme, or use_blur_map: false")
        if m.dim() != 4 or m.shape[:2] != (image.shape[0], 1):
            raise InputError(f"dramnet.reversible: the blur map must be (B, 1, h, w) with B = {image.shape[0]}, got {tuple(m.shape)}")
        return m

    def _needs_grad(self, tensors: Sequence[Tensor | None]) -> bool:
        if not torch.is_grad_enabled():
            return False
        return any(p.requires_grad for p in self.parameters()) or any(t is not None and t.requires_grad for t in tensors)

    def forward(self, image: Tensor, features: Features | None, estimate: BlurEstimate, operator: Operator | None) -> DecoderOutput:
        e0, e1, e2, e3, e4 = self._pyramid(image, features)
        blur_map = self._blur_map(image, estimate)
        dtype = torch.promote_types(e0.dtype, torch.float32)
        states = [t.to(dtype) for t in (e4, e3, e2, e1, e0)]  # [x, c0, c1, c2, c3]
        if blur_map is not None:
            blur_map = blur_map.to(dtype)
        exit_mask = None
        if self.early_exit and blur_map is not None and not self.training:
            exit_mask = blur_map.detach().amax(dim=(1, 2, 3)) < self.exit_threshold
        for sub in self.subdecoders:
            sub.clamp_alphas_()
        extras: dict[str, Tensor] = {}
        logits = None
        if self.classifier is not None:
            logits = self.classifier(e3.detach())
            extras["exit_logits"] = logits
        n = self.num_subdecoders
        used = None
        if self.exit_table is not None and not self.training:
            assert logits is not None
            used = torch.tensor(self.exit_table, device=image.device)[logits.argmax(dim=1)]
            n = int(used.max())  # AdaRevD early exit: the batch stops after the largest count it needs
            extras["subdecoders_used"] = used
        head_at = list(range(n)) if (self.deep_supervision or used is not None) else [n - 1]
        run = run_reversible if (self.save_memory and self._needs_grad([*states, blur_map])) else run_plain
        _, heads = run(self.subdecoders[:n], self.heads_out[:n], head_at, states, blur_map, exit_mask)
        outs = [h.to(image.dtype) + image for h in heads]
        restored = outs[-1]
        if used is not None:
            restored = torch.stack(outs)[used - 1, torch.arange(image.shape[0], device=image.device)]
        if exit_mask is not None:
            extras["exit_mask"] = exit_mask
        intermediates = outs[::-1] if self.deep_supervision else [restored]
        return DecoderOutput(restored=restored, intermediates=intermediates, extras=extras)

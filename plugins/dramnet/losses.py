"""DRAMNet's losses (paper Sec. 3.2, eqs. 3, 6, 8; specs/dramnet.md §2.3, §4) and AdaRevD's
exit-classifier loss.

* ``dramnet.silog`` — eq. (3), stage 1: scale-invariant log loss of the encoder's depth on
  the blurry input against pseudo-depth of the sharp frame;
* ``dramnet.depth_ssim`` — eq. (6), stage 2: 1 − SSIM of the min–max normalised depths;
* ``dramnet.blur_map`` — eq. (8): L1 between the BME's maps and the Laplacian target of eq. (1),
  one term per scale;
* ``dramnet.exit_classes`` — cross-entropy of AdaRevD's degradation classifier.
"""

from __future__ import annotations

from typing import Literal

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor

from restorekit import ConfigError, InputError, Loss, PipelineOutput
from restorekit.data import laplacian_blur_map
from restorekit.errors import MissingBatchKeyError
from restorekit.interfaces import Batch

from .reversible import PSNR_THRESHOLDS, psnr_classes
from .teacher import FrozenTeacher

__all__ = ["BlurMapLoss", "DepthSSIMLoss", "ExitClassLoss", "SILogLoss", "silog", "minmax"]

EPS_DEPTH = 1e-6


def silog(pred: Tensor, target: Tensor, lam: float = 0.85, eps: float = EPS_DEPTH) -> Tensor:
    """Eq. (3) per sample, averaged over the batch: ``(1/N)Σd² − (λ/N²)(Σd)²`` with
    ``d = log max(D_pred, eps) − log D_pseudo`` over the valid pixels ``D_pseudo > eps`` (no sqrt).

    Shapes: ``(B, 1, H, W)`` twice → scalar. A sample without valid pixels contributes 0.
    """
    valid = target > eps
    d = torch.where(valid, torch.log(pred.clamp_min(eps)) - torch.log(target.clamp_min(eps)), torch.zeros_like(pred))
    n = valid.flatten(1).sum(dim=1).to(pred.dtype)
    s1 = d.flatten(1).sum(dim=1)
    s2 = d.square().flatten(1).sum(dim=1)
    n_safe = n.clamp_min(1.0)
    per = s2 / n_safe - lam * (s1 / n_safe).square()
    return torch.where(n > 0, per, torch.zeros_like(per)).mean()


def minmax(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Per-sample min–max normalisation to [0, 1]. Shapes: ``(B, C, H, W)`` kept."""
    lo = x.flatten(1).amin(dim=1).view(-1, 1, 1, 1)
    hi = x.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    return (x - lo) / (hi - lo).clamp_min(eps)


class _DepthLoss(Loss):
    """Shared: the predicted depth (``Features.extras["depth"]``) and the pseudo-depth."""

    requires = frozenset({"depth"})

    def __init__(self, pseudo_depth: str, teacher_variant: str, teacher_weights: str | None, teacher_seed: int) -> None:
        super().__init__()
        if pseudo_depth not in ("teacher", "batch"):
            raise ConfigError(f"{self._name}: pseudo_depth must be 'teacher' or 'batch', got {pseudo_depth!r}")
        self.pseudo_depth = pseudo_depth
        self.batch_requires = frozenset({"pseudo_depth"}) if pseudo_depth == "batch" else frozenset({"sharp"})
        self.teacher = FrozenTeacher(teacher_variant, teacher_weights, teacher_seed) if pseudo_depth == "teacher" else None

    _name = "dramnet depth loss"

    def __deepcopy__(self, memo: dict) -> "_DepthLoss":  # the teacher handle is shared, never copied
        import copy

        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            setattr(new, k, v if k == "teacher" else copy.deepcopy(v, memo))
        return new

    def depths(self, output: PipelineOutput, batch: Batch) -> tuple[Tensor, Tensor]:
        self.check_batch(batch)
        feats = output.features
        pred = feats.extras.get("depth") if feats is not None else None
        if pred is None:
            raise InputError(f"{self._name} needs the encoder's extras['depth'] (dramnet.depth_anything with depth: true)")
        if self.teacher is not None:
            target = self.teacher(batch["sharp"])
        else:
            target = batch["pseudo_depth"]
        if target.dim() == 3:
            target = target[:, None]
        if target.shape != pred.shape:
            raise InputError(f"{self._name}: predicted depth {tuple(pred.shape)} and pseudo-depth {tuple(target.shape)} differ in shape")
        dtype = torch.promote_types(pred.dtype, torch.float32)
        return pred.to(dtype), target.to(dtype).detach()


class SILogLoss(_DepthLoss):
    """Scale-invariant log loss of the encoder's depth against pseudo-depth (paper eq. 3, stage 1).

    ``L = (1/N)Σ dᵢ² − (λ/N²)(Σ dᵢ)²``, ``dᵢ = log D_pred − log D_pseudo`` over the valid
    pixels ``D_pseudo > 1e-6``, no square root.

    ``D_pred`` is the encoder's depth on the blurry input (``Features.extras["depth"]``,
    relative inverse depth); ``D_pseudo`` comes from a frozen Depth-Anything-V2 teacher applied
    to ``batch["sharp"]`` (see :mod:`.teacher`), or from ``batch["pseudo_depth"]``.

    Args:
        lam: λ (0.85, paper; DA-V2's metric-depth loss uses 0.5 with a sqrt).
        pseudo_depth: ``teacher`` (default) or ``batch`` (precomputed ``batch["pseudo_depth"]`` (B,1,H,W)).
        teacher_variant, teacher_weights: the teacher's DA-V2 variant and official weights file
            — set them as the encoder's ``variant``/``weights``.
        teacher_seed: initialisation seed of a teacher without weights (tests, tiny pipeline).

    Choices:
        - λ = 0.85, no square root (paper eq. 3)
        - computed per sample on disparities and averaged over the batch (our choice: each
          image has its own relative scale; the loss is invariant to depth ↔ 1/depth)
        - D_pred clamped to ≥ 1e-6, valid pixels D_pseudo > 1e-6 (our choice)
        - the frozen teacher is owned (shared, hidden from state dicts) by the depth losses and
          applied to the sharp frames (our choice of where the paper's frozen copy lives)
    """

    _name = "dramnet.silog"

    def __init__(
        self,
        lam: float = 0.85,
        pseudo_depth: Literal["teacher", "batch"] = "teacher",
        teacher_variant: Literal["vits", "vitb", "vitl", "tiny"] = "vits",
        teacher_weights: str | None = None,
        teacher_seed: int = 0,
    ) -> None:
        super().__init__(pseudo_depth, teacher_variant, teacher_weights, teacher_seed)
        if not 0.0 <= lam <= 1.0:
            raise ConfigError(f"dramnet.silog: lam must lie in [0, 1] (0.85 in the paper), got {lam}")
        self.lam = float(lam)

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        pred, target = self.depths(output, batch)
        return silog(pred, target, self.lam)


class DepthSSIMLoss(_DepthLoss):
    """Depth-structure loss (paper eq. 6, stage 2): 1 − SSIM of the min–max normalised depths.

    ``L = 1 − SSIM(n(D_pred), n(D_pseudo))`` with ``n`` the per-sample min–max normalisation to [0, 1].

    ``D_pred`` = H(E(I_blur)) from the same forward pass (``Features.extras["depth"]``);
    ``D_pseudo`` as in ``dramnet.silog``. SSIM: Gaussian window 11, σ = 1.5, C1 = 0.01²,
    C2 = 0.03² (``kornia.metrics.ssim``, ``same`` padding), mean over pixels and batch.

    Args: as ``dramnet.silog`` (without ``lam``).

    Choices:
        - D_pred from the same forward pass as the restoration (our choice)
        - min–max normalisation per sample before SSIM (our choice: relative depths)
        - SSIM window 11, σ 1.5, C1 = 0.01², C2 = 0.03², 'same' padding (our choice of padding)
    """

    _name = "dramnet.depth_ssim"

    def __init__(
        self,
        pseudo_depth: Literal["teacher", "batch"] = "teacher",
        teacher_variant: Literal["vits", "vitb", "vitl", "tiny"] = "vits",
        teacher_weights: str | None = None,
        teacher_seed: int = 0,
    ) -> None:
        super().__init__(pseudo_depth, teacher_variant, teacher_weights, teacher_seed)

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        pred, target = self.depths(output, batch)
        with torch.autocast(device_type=pred.device.type, enabled=False):
            ssim = kornia.metrics.ssim(minmax(pred), minmax(target), window_size=11, max_val=1.0, padding="same")
        return 1.0 - ssim.mean()


class BlurMapLoss(Loss):
    """Blur-map loss (paper eq. 8): ``(1/S) Σ_b mean|B_pred^b − B_Lap^b|``, one term per scale.

    ``B_pred^b`` are the BME's maps (``BlurEstimate.extras["blur_maps"]``, finest first; only
    ``BlurEstimate.map`` if the estimator gives no list). The target ``B_Lap^0`` is
    ``batch["blur_map"]`` when the dataset provides it, otherwise it is computed from
    ``batch["sharp"]`` and ``batch["blurry"]`` by :func:`restorekit.data.laplacian_blur_map`
    (eq. 1, the same function the datasets use) with the tile ``H / h_0`` implied by the
    map's resolution (14 for the BME's default); ``B_Lap^b`` = ``avgpool_{2^b}(B_Lap^0)``,
    which equals eq. (1) on ``(tile·2^b)²`` tiles.

    Args:
        scales: use the first ``scales`` maps (``None``: all).

    Choices:
        - mean over the scales of the per-scale mean absolute error (paper eq. 8, spec §2.3)
        - target computed on the fly from sharp/blurry when the batch has no ``blur_map``
          (our choice; a permanent fallback, identical to the dataset's target)
    """

    requires = frozenset({"map"})

    def __init__(self, scales: int | None = None) -> None:
        super().__init__()
        if scales is not None and scales < 1:
            raise ConfigError(f"dramnet.blur_map: scales must be >= 1 or null, got {scales}")
        self.scales = scales

    def check_batch(self, batch: Batch) -> None:
        if batch.get("blur_map") is not None:
            return
        missing = [k for k in ("sharp", "blurry") if batch.get(k) is None]
        if missing:
            raise MissingBatchKeyError(
                f"loss dramnet.blur_map needs batch['blur_map'] or both 'sharp' and 'blurry' to compute it (missing {missing}); "
                f"use a paired or synthetic dataset"
            )

    def targets(self, maps: list[Tensor], batch: Batch) -> list[Tensor]:
        m0 = maps[0]
        target = batch.get("blur_map")
        if target is None:
            blurry, sharp = batch["blurry"], batch["sharp"]
            h, w = blurry.shape[-2:]
            if h % m0.shape[-2] or w % m0.shape[-1] or h // m0.shape[-2] != w // m0.shape[-1]:
                raise InputError(f"dramnet.blur_map: a {tuple(m0.shape[-2:])} map does not tile a {h}×{w} image into square tiles")
            target = laplacian_blur_map(sharp.to(m0.dtype), blurry.to(m0.dtype), tile=h // m0.shape[-2])
        target = target.to(m0.dtype)
        if target.dim() == 3:
            target = target[:, None]
        out = []
        for b, m in enumerate(maps):
            t = target if b == 0 else F.avg_pool2d(target, 2**b)
            if t.shape != m.shape:
                raise InputError(
                    f"dramnet.blur_map: map {b} has shape {tuple(m.shape)} but its target is {tuple(t.shape)}; the BME maps must "
                    f"halve in size per scale and batch['blur_map'] must match map 0"
                )
            out.append(t)
        return out

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        self.check_batch(batch)
        est = output.estimate
        maps = est.extras.get("blur_maps") if est is not None else None
        if maps is None:
            if est is None or est.map is None:
                raise InputError("dramnet.blur_map needs a blur map (BlurEstimate.map) from dramnet.laplacian_bme")
            maps = [est.map]
        maps = list(maps)[: self.scales] if self.scales is not None else list(maps)
        maps = [m.to(torch.promote_types(m.dtype, torch.float32)) for m in maps]
        with torch.autocast(device_type=maps[0].device.type, enabled=False):
            terms = [(m - t).abs().mean() for m, t in zip(maps, self.targets(maps, batch))]
        return torch.stack(terms).mean()


class ExitClassLoss(Loss):
    """Cross-entropy of AdaRevD's degradation (early-exit) classifier against PSNR classes.

    The logits are ``extras["exit_logits"]`` of ``dramnet.reversible`` with ``classifier: true``;
    the class of each sample is the number of PSNR thresholds [20, 25, 30, 35, 40] dB its
    blurry-vs-sharp PSNR exceeds (class 0: ≤ 20 dB, the hardest).

    Choices:
        - classes from the whole blurry/sharp training crop (AdaRevD: per patch)
    """

    requires = frozenset({"exit_logits"})
    batch_requires = frozenset({"sharp", "blurry"})

    def __init__(self, thresholds: list[float] = list(PSNR_THRESHOLDS)) -> None:  # noqa: B006 - copied
        super().__init__()
        self.thresholds = [float(t) for t in thresholds]

    def forward(self, output: PipelineOutput, batch: Batch) -> Tensor:
        self.check_batch(batch)
        logits = output.decoder.extras.get("exit_logits")
        if logits is None:
            raise InputError("dramnet.exit_classes needs dramnet.reversible with classifier: true")
        if logits.shape[-1] != len(self.thresholds) + 1:
            raise InputError(f"dramnet.exit_classes: {logits.shape[-1]} logits for {len(self.thresholds) + 1} classes")
        labels = psnr_classes(batch["blurry"], batch["sharp"], self.thresholds).to(logits.device)
        return F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), labels)

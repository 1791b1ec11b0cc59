"""Train a small NRKNet on synthetic spatially-varying defocus (CPU, a few minutes) and report
held-out PSNR against the blurry input.

Data (our choice, for a quick end-to-end check of the components, not a paper number):

* sharp images: Set3C ``butterfly`` and ``leaves`` for training, ``starfish`` held out
  (``/work/shared/data/set3c``; pass ``--data`` elsewhere);
* blur: output-side layered disk defocus (``restorekit.psf.DepthDefocus``, 8 layers) with a
  smooth random radius map in [0, ``r_max``] px — a 6×6 grid of uniform values, bicubically
  upsampled — so the blur varies across every crop;
* each training image is blurred with 8 such fields once (held-out: 2), samples are random
  crops of these pairs;
* training: random 48² crops with flips, batch 4; model ``pipelines/nrknet.yaml`` with tiny
  widths [8, 16, 32] and J = 8 atoms (largest kernel 17×17 ≥ the 2·r_max + 1 disk), Adam
  with a cosine schedule (lr 4e-3: a short run, unlike the paper's 1e-4), the multi-scale and
  reblur losses, through the engine's :class:`restorekit.engine.trainer.Trainer`;
* evaluation: the full 256² held-out image blurred with a fixed radius map, plus 16 fixed
  held-out 48² crops; PSNR (data range 1) of blurry vs sharp and restored vs sharp.

Usage::

    python benchmarks/nrknet_train_small.py [--iterations 250] [--out runs/nrknet_small]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from restorekit.psf import DepthDefocus

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "nrknet.yaml"


def load_rgb(path: Path) -> Tensor:
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def radius_field(size: int, r_max: float, gen: torch.Generator) -> Tensor:
    """A smooth random radius map (1, size, size) in [0, r_max]."""
    coarse = torch.rand(1, 1, 6, 6, generator=gen)
    field = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True).clamp(0, 1)
    return (r_max * field)[0]


def defocus(sharp: Tensor, radius: Tensor, r_max: float) -> Tensor:
    """Layered output-side disk defocus of (C, H, W) with a radius map (1, H, W)."""
    blur = DepthDefocus(mode="layered", levels=8, r_max=r_max, boundary="reflect")
    return blur.apply_radius(sharp[None].double(), radius[None].double())[0].float().clamp(0, 1)


class SyntheticDefocus(Dataset):
    """Random crops of pre-blurred images: each sharp image is blurred ``variants`` times with
    different smooth random radius fields (computed once, the blur being the slow part on a
    CPU), and every sample takes a random crop (with random flips) of one (sharp, blurry) pair."""

    def __init__(self, images: list[Tensor], crop: int, length: int, r_max: float, seed: int, augment: bool, variants: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.pairs = [(img, defocus(img, radius_field(img.shape[-1], r_max, gen), r_max)) for img in images for _ in range(variants)]
        self.crop, self.length, self.seed, self.augment = crop, length, seed, augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch if self.augment else 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch * 10_007 + index)
        sharp, blurry = self.pairs[int(torch.randint(len(self.pairs), (1,), generator=gen))]
        h, w = sharp.shape[-2:]
        top = int(torch.randint(h - self.crop + 1, (1,), generator=gen))
        left = int(torch.randint(w - self.crop + 1, (1,), generator=gen))
        pair = torch.stack([sharp, blurry])[..., top : top + self.crop, left : left + self.crop]
        if self.augment:
            if torch.rand(1, generator=gen) < 0.5:
                pair = pair.flip(-1)
            if torch.rand(1, generator=gen) < 0.5:
                pair = pair.flip(-2)
        return {"sharp": pair[0].contiguous(), "blurry": pair[1].contiguous()}


def psnr(a: Tensor, b: Tensor) -> float:
    return float(-10 * torch.log10(F.mse_loss(a.double(), b.double())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/set3c"))
    parser.add_argument("--iterations", type=int, default=250)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--widths", type=int, nargs=3, default=[8, 16, 32])
    parser.add_argument("--crop", type=int, default=48)
    parser.add_argument("--r-max", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("runs/nrknet_small"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from restorekit.engine.trainer import Trainer

    train_imgs = [load_rgb(args.data / f"{n}.png") for n in ("butterfly", "leaves")]
    held_out = load_rgb(args.data / "starfish.png")
    train_set = SyntheticDefocus(train_imgs, crop=args.crop, length=400, r_max=args.r_max, seed=0, augment=True, variants=8)
    val_set = SyntheticDefocus([held_out], crop=args.crop, length=16, r_max=args.r_max, seed=1, augment=False, variants=2)
    overrides = {
        "model.blur_estimator.widths": args.widths,
        "model.blur_estimator.num_kernels": 8,
        "model.operator.num_kernels": 8,
        "train": {
            "optimizer": "adam",
            "lr": args.lr,
            "batch_size": 4,
            "iterations": args.iterations,
            "schedule": "cosine",
            "warmup_iters": 20,
            "min_lr": args.lr / 20,
            "log_every": 50,
            "val_every": 0,
            "checkpoint_every": 0,
        },
    }
    torch.manual_seed(0)
    trainer = Trainer(PIPELINE, overrides=overrides, out_dir=args.out, device=args.device,
                      train_dataset=train_set, val_dataset=val_set, progress=False)
    n_params = sum(p.numel() for p in trainer.pipeline.parameters())
    start = time.time()
    summary = trainer.fit()
    minutes = (time.time() - start) / 60
    trainer.close()

    pipe = trainer.pipeline.eval()
    gen = torch.Generator().manual_seed(123)
    radius = radius_field(256, args.r_max, gen)
    blurry = defocus(held_out, radius, args.r_max)
    with torch.no_grad():
        restored = pipe({"blurry": blurry[None].to(args.device)}).restored[0].cpu().clamp(0, 1)
        crops_b, crops_r = [], []
        for i in range(len(val_set)):
            s = val_set[i]
            crops_b.append(psnr(s["blurry"], s["sharp"]))
            r = pipe({"blurry": s["blurry"][None].to(args.device)}).restored[0].cpu().clamp(0, 1)
            crops_r.append(psnr(r, s["sharp"]))
    print(f"NRKNet small: {n_params:,} parameters, {summary['iteration']} iterations in {minutes:.1f} min on {args.device}, "
          f"final training loss {summary['loss']:.4f}")
    print(f"held-out starfish 256x256 (r_max {args.r_max} px): blurry {psnr(blurry, held_out):.2f} dB -> restored "
          f"{psnr(restored, held_out):.2f} dB")
    print(f"held-out 16 crops {args.crop}x{args.crop}: blurry {np.mean(crops_b):.2f} dB -> restored {np.mean(crops_r):.2f} dB")
    if not math.isfinite(summary["loss"] or float("nan")):
        raise SystemExit("training diverged")


if __name__ == "__main__":
    main()

# Measured (2-core CPU shared with other jobs, 2026-11-21; defaults, 250 iterations, 3.7 min,
# 108,382 parameters): held-out starfish blurry 29.32 dB → restored 23.13 dB; 16 held-out 48²
# crops 28.32 → 23.15 dB. The network had not yet learned D ≈ I on the content (Z_0 starts
# near 4Y), so a few minutes do not reach the blurry baseline; lr 1e-3 gave 13.2 dB. Longer runs
# (thousands of iterations, ideally on a GPU) are needed for a meaningful deblurring number.

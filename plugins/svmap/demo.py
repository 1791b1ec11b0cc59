"""``restorekit demo``: blur the bundled sample photographs and restore them, offline.

What it does (no arguments, no downloads, about 50 s on one CPU thread):

1. reads the sample photographs shipped in ``restorekit/plugins/svmap/samples/``;
2. draws one Levin-style camera-shake kernel per image with
   :func:`restorekit.psf.motion_bf` (fixed seeds, full exposure, cropped to its support);
3. blurs each photograph with a true *linear* blur (the ``valid`` part of the convolution
   of a slightly larger crop, so there are no artificial boundaries) and adds Gaussian
   noise of standard deviation 1 % (σ = 0.01, fixed seed);
4. restores it non-blindly with the classical solvers of the ``svmap`` plugin
   (Gaussian-prior/L2 FFT deconvolution, Krishnan–Fergus HQS, Levin IRLS with λ = 3e-3),
   with the small SVMAP whose weights ship in ``restorekit/plugins/svmap/weights/`` (see
   the model card there), and with any trained pipeline given with
   ``--pipeline FILE --weights W``;
5. writes, under ``--out`` (default ``demo_out/``), every image as PNG, the kernels, a
   side-by-side figure ``figure.png``, and a PSNR/SSIM table printed to the terminal and
   saved as ``results.md`` and ``results.csv``. All files are written atomically.

PSNR/SSIM follow the ``set3c_levin`` protocol: 8-bit RGB, border 0
(:func:`restorekit.metrics.compute_metrics`).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
METHODS = ("blurry", "gaussian_l2", "hqs", "levin_irls")
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
BUNDLED_SVMAP = ("svmap_small.yaml", "svmap_small.safetensors")
METHOD_TITLES = {
    "svmap": "SVMAP small (bundled)",
    "sharp": "sharp",
    "blurry": "blurry + 1% noise",
    "gaussian_l2": "Gaussian prior (L2, FFT)",
    "hqs": "Krishnan-Fergus HQS",
    "levin_irls": "Levin IRLS",
}

__all__ = ["DemoResult", "available_methods", "bundled_svmap", "configure", "run", "run_demo", "sample_images"]


def bundled_svmap() -> tuple[Path, Path] | None:
    """``(pipeline YAML, safetensors)`` of the SVMAP weights shipped with the package, if any."""
    yaml_path, weights = (WEIGHTS_DIR / name for name in BUNDLED_SVMAP)
    return (yaml_path, weights) if yaml_path.is_file() and weights.is_file() else None


def available_methods() -> tuple[str, ...]:
    """The demo's methods: the classical ones, plus ``svmap`` when weights are bundled."""
    return METHODS + (("svmap",) if bundled_svmap() is not None else ())


@dataclass
class DemoResult:
    """One row of the results table."""

    image: str
    method: str
    psnr: float
    ssim: float
    seconds: float


# --------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------


def sample_images() -> list[Path]:
    """The bundled sample photographs (sorted by name)."""
    paths = sorted(SAMPLES_DIR.glob("*.png"))
    if not paths:
        raise FileNotFoundError(
            f"no sample images in {SAMPLES_DIR}; the restorekit installation is incomplete "
            f"(reinstall it, or use `restorekit deblur` on your own images)"
        )
    return paths


def demo_kernel(seed: int, max_len: float = 35.0, canvas: int = 41) -> Tensor:
    """A Boracchi–Foi camera-shake PSF cropped to its support, ``(1, 1, h, w)`` float64."""
    from restorekit.psf import motion_bf

    k = motion_bf(seed=seed, canvas=canvas, max_len=max_len, fraction=1.0)
    rows = torch.nonzero(k.sum(1) > 0).flatten()
    cols = torch.nonzero(k.sum(0) > 0).flatten()
    k = k[int(rows[0]) : int(rows[-1]) + 1, int(cols[0]) : int(cols[-1]) + 1]
    return (k / k.sum())[None, None]


def make_observation(sample: Tensor, kernel: Tensor, sigma: float, seed: int) -> tuple[Tensor, Tensor]:
    """``(sharp, blurry)`` from a sample ``(1, C, S, S)``: a linear (``valid``) blur.

    ``sharp`` is the centre crop of the sample that the ``valid`` convolution observes,
    ``(1, C, S − h + 1, S − w + 1)``; ``blurry = k ∗ sample (valid) + σ·n``, not clipped.
    """
    from restorekit.functional import conv2d

    from .physics import crop, free_boundary_padding

    blurry = conv2d(sample.double(), kernel, boundary="valid", method="fft")
    gen = torch.Generator().manual_seed(seed)
    blurry = blurry + sigma * torch.randn(blurry.shape, generator=gen, dtype=torch.float64)
    sharp = crop(sample.double(), free_boundary_padding((kernel.shape[-2], kernel.shape[-1])))
    return sharp.float(), blurry.float()


# --------------------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------------------


def _pipeline_solver(pipeline: str, weights: str | None) -> Callable[[Tensor, Tensor], Tensor]:
    """A trained pipeline (e.g. ``pipelines/svmap.yaml`` + its safetensors weights)."""
    import restorekit
    from restorekit import InputError

    pipe = restorekit.load_pipeline(pipeline).eval()
    if weights is not None:
        from safetensors.torch import load_file

        missing, unexpected = pipe.load_state_dict(load_file(weights), strict=False)
        if missing or unexpected:
            raise InputError(
                f"{weights} does not fit {pipeline}: {len(missing)} missing and {len(unexpected)} unexpected "
                f"weight names (e.g. {(missing + unexpected)[0]}); give the YAML the weights were trained with"
            )
    return lambda y, k: pipe({"blurry": y, "kernel": k.float()}).restored


def _solvers(max_it: int) -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    import restorekit
    from restorekit import BlurEstimate

    from .physics import crop, free_boundary_padding
    from .gaussian_init import gaussian_prior_deconv

    hqs = restorekit.create("svmap.hqs", clamp=True)
    # λ = 3e-3 instead of the component default 1e-3: Levin's demo uses 0.004 for noisier
    # inputs, and at 1 % noise 1e-3 under-regularises (visible noise; −1 to −2 dB here).
    levin = restorekit.create("svmap.levin_irls", lam=3e-3, max_it=max_it, clamp=True)

    def l2(y: Tensor, k: Tensor) -> Tensor:
        x = gaussian_prior_deconv(y.double(), k.double(), lam=2e-3)
        return crop(x, free_boundary_padding((k.shape[-2], k.shape[-1]))).clamp(0, 1).float()

    solvers: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "blurry": lambda y, k: y.clamp(0, 1),
        "gaussian_l2": l2,
        "hqs": lambda y, k: hqs(y, None, BlurEstimate(kernel=k.float()), None).restored,
        "levin_irls": lambda y, k: levin(y, None, BlurEstimate(kernel=k.float()), None).restored,
    }
    bundled = bundled_svmap()
    if bundled is not None:
        svmap = _pipeline_solver(str(bundled[0]), str(bundled[1]))
        solvers["svmap"] = lambda y, k: svmap(y, k).clamp(0, 1)
    return solvers


# --------------------------------------------------------------------------------------
# outputs (atomic)
# --------------------------------------------------------------------------------------


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _to_uint8(image: Tensor) -> np.ndarray:
    """``(1, C, H, W)`` in [0, 1] → ``(H, W, 3)`` uint8."""
    arr = torch.round(image[0].detach().double().clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
    arr = np.repeat(arr, 3, axis=0) if arr.shape[0] == 1 else arr
    return np.ascontiguousarray(arr.transpose(1, 2, 0))


def _kernel_preview(kernel: Tensor, size: int) -> np.ndarray:
    """The PSF scaled to its peak and enlarged (nearest) to ``size × size``, uint8 RGB."""
    from PIL import Image

    k = kernel[0, 0].double()
    arr = (k / k.max() * 255).round().to(torch.uint8).numpy()
    im = Image.fromarray(arr).resize((size, size), Image.NEAREST).convert("RGB")
    return np.asarray(im)


def _figure(rows: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> bytes:
    """A labelled grid: one row per image, one column per panel. Returns PNG bytes."""
    from PIL import Image, ImageDraw

    pad, label_h = 4, 14
    tiles = [t for _, panels in rows for _, t in panels]
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    ncol = max(len(p) for _, p in rows)
    canvas = Image.new("RGB", (ncol * (tw + pad) + pad, len(rows) * (th + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (_, panels) in enumerate(rows):
        for c, (label, tile) in enumerate(panels):
            x0, y0 = pad + c * (tw + pad), pad + r * (th + label_h + pad)
            draw.text((x0, y0), label, fill="black")
            canvas.paste(Image.fromarray(tile), (x0, y0 + label_h))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _markdown(results: list[DemoResult], header: str) -> str:
    images = list(dict.fromkeys(r.image for r in results))
    methods = list(dict.fromkeys(r.method for r in results))
    by = {(r.image, r.method): r for r in results}
    lines = [header, "", "PSNR (dB) / SSIM, 8-bit RGB, border 0 (protocol `set3c_levin`); time in seconds.", ""]
    lines.append("| method | " + " | ".join(images) + " | mean PSNR | mean SSIM | time |")
    lines.append("|---|" + "---|" * (len(images) + 3))
    for m in methods:
        rs = [by[(i, m)] for i in images]
        cells = " | ".join(f"{r.psnr:.2f} / {r.ssim:.4f}" for r in rs)
        mp = sum(r.psnr for r in rs) / len(rs)
        ms = sum(r.ssim for r in rs) / len(rs)
        tt = sum(r.seconds for r in rs)
        lines.append(f"| {METHOD_TITLES.get(m, m)} | {cells} | {mp:.2f} | {ms:.4f} | {tt:.1f} |")
    return "\n".join(lines) + "\n"


def _csv(results: list[DemoResult]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image", "method", "psnr_db", "ssim", "seconds"])
    for r in results:
        writer.writerow([r.image, r.method, f"{r.psnr:.4f}", f"{r.ssim:.6f}", f"{r.seconds:.3f}"])
    return buf.getvalue().encode()


# --------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------


def run_demo(
    out: Path,
    size: int = 224,
    images: int = 3,
    methods: tuple[str, ...] | None = None,
    sigma: float = 0.01,
    seed: int = 0,
    max_it: int = 200,
    echo: Callable[[str], None] = print,
    pipeline: str | None = None,
    weights: str | None = None,
) -> list[DemoResult]:
    """Run the demo and write its outputs to ``out``; returns the table rows.

    ``pipeline``/``weights`` add a trained pipeline (e.g. SVMAP) as an extra method.
    """
    from restorekit import InputError
    from restorekit.inference import read_image, write_image
    from restorekit.metrics import compute_metrics

    known = available_methods()
    methods = known if methods is None else methods
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise InputError(f"unknown demo method(s) {unknown}; choose from {', '.join(known)}")
    if images < 1:
        raise InputError(f"--images must be >= 1, got {images}")
    paths = sample_images()[:images]
    solvers = _solvers(max_it)
    titles = dict(METHOD_TITLES)
    if pipeline is not None:
        label = Path(pipeline).stem
        solvers[label] = _pipeline_solver(pipeline, weights)
        titles.setdefault(label, label)
        methods = (*methods, label)
    out.mkdir(parents=True, exist_ok=True)
    results: list[DemoResult] = []
    rows: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
    for i, path in enumerate(paths):
        name = path.stem
        sample = read_image(path, channels=3)[None]
        if size < sample.shape[-1] or size < sample.shape[-2]:
            top, left = (sample.shape[-2] - size) // 2, (sample.shape[-1] - size) // 2
            sample = sample[..., max(top, 0) : max(top, 0) + size, max(left, 0) : max(left, 0) + size]
        kernel = demo_kernel(seed + i)
        if kernel.shape[-1] * 2 > sample.shape[-1] or kernel.shape[-2] * 2 > sample.shape[-2]:
            raise InputError(f"--size {size} is too small for a {tuple(kernel.shape[-2:])} kernel; use --size >= {2 * max(kernel.shape[-2:])}")
        sharp, blurry = make_observation(sample, kernel, sigma, seed=1000 * seed + i)
        write_image(out / f"{name}_sharp.png", sharp)
        panels = [("sharp", _to_uint8(sharp))]
        for method in methods:
            t0 = time.perf_counter()
            with torch.no_grad():
                restored = solvers[method](blurry, kernel)
            seconds = time.perf_counter() - t0
            metrics = compute_metrics(restored.clamp(0, 1), sharp, "set3c_levin")
            results.append(DemoResult(name, method, float(metrics["psnr"][0]), float(metrics["ssim"][0]), seconds))
            write_image(out / f"{name}_{method}.png", restored.clamp(0, 1))
            panels.append((f"{titles[method]} {results[-1].psnr:.2f} dB", _to_uint8(restored)))
            echo(f"  {name:<10s} {titles[method]:<26s} PSNR {results[-1].psnr:6.2f} dB  SSIM {results[-1].ssim:.4f}  ({seconds:.1f} s)")
        panels.append((f"kernel {kernel.shape[-2]}x{kernel.shape[-1]}", _kernel_preview(kernel, sharp.shape[-1])))
        _atomic_write_bytes(out / f"{name}_kernel.png", _png(_kernel_preview(kernel, 4 * max(kernel.shape[-2:]))))
        rows.append((name, panels))
    _atomic_write_bytes(out / "figure.png", _figure(rows))
    header = f"# restorekit demo: non-blind deblurring, motion blur + {100 * sigma:g} % noise"
    table = _markdown(results, header)
    _atomic_write_bytes(out / "results.md", table.encode())
    _atomic_write_bytes(out / "results.csv", _csv(results))
    echo("")
    echo(table)
    return results


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``restorekit demo``."""
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--size", type=int, default=224, help="side of the sample crops in pixels (default: 224, the full samples)")
    parser.add_argument("--images", type=int, default=3, help="how many bundled samples to use (default: all 3)")
    parser.add_argument(
        "--methods", default=None,
        help=f"comma-separated rows of the table (default: {','.join(METHODS)}, plus svmap when its weights are bundled)",
    )
    parser.add_argument("--noise", type=float, default=0.01, help="Gaussian noise std on [0, 1] images (default: 0.01 = 1 %%)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kernels and the noise (default: 0)")
    parser.add_argument("--max-it", type=int, default=200, help="CG iterations per Levin IRLS solve (default: 200)")
    parser.add_argument("--pipeline", default=None, help="also run a trained pipeline YAML (e.g. pipelines/svmap.yaml)")
    parser.add_argument("--weights", default=None, help="safetensors weights for --pipeline")


def run(args: argparse.Namespace) -> int:
    """Entry of ``restorekit demo``; returns the exit status."""
    out = Path(args.out)
    t0 = time.perf_counter()
    print(f"restorekit demo: deblurring {args.images} bundled photographs (motion blur, {100 * args.noise:g} % noise) -> {out}/")
    methods = None if args.methods is None else tuple(m.strip() for m in str(args.methods).split(",") if m.strip())
    run_demo(out, size=args.size, images=args.images, methods=methods, sigma=args.noise, seed=args.seed,
             max_it=args.max_it, pipeline=args.pipeline, weights=args.weights)
    print(f"wrote {out}/figure.png, {out}/results.md, {out}/results.csv and the images in {time.perf_counter() - t0:.1f} s")
    return 0

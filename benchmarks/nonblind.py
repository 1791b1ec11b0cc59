"""Non-blind deblurring benchmark: Set3C × the 8 Levin kernels (specs/benchmarks.md §2).

Protocol ``set3c_levin`` in two variants:

* ``dpir_exact`` — reproduces DPIR's ``main_dpir_deblur.py``: circular blur of the
  **uint8** image, truncated to uint8 (``floor(conv + 1e-9)``; the 1e-9 absorbs float
  round-off at integer values, our choice), ``/255`` as float32, then
  ``np.random.seed(0)`` re-seeded per image and kernel and
  ``y += np.random.normal(0, σ, y.shape)`` (legacy generator), no clipping;
* ``float`` — circular blur in float64 on ``x/255``, no quantisation, noise from
  ``np.random.default_rng(0)`` re-created per image.

Every method returns x̂; the score is the PSNR of ``uint8(round(clip(x̂, 0, 1)·255))``
against the uint8 sharp image, RGB, border 0, peak 255 (∞ for identical images). The
table reports the mean over the 3 images per kernel and the overall mean, plus the run
time per image.

Methods (``--methods``): ``gaussian_l2`` (Gaussian-prior FFT deconvolution, λ₀ = 2e-3),
``hqs`` (Krishnan–Fergus, λ = 2e3, α = 1/2, circular), ``levin_irls`` (Levin 2007,
λ = 1e-3, at most 200 CG iterations, circular boundary), ``levin_irls_free`` (the same
with Levin's free boundary), ``svmap_small`` (the bundled small SVMAP, free boundary),
and any trained pipeline given with ``--pipeline FILE [--weights W]``.

When DeepInverse is installed (``pip install restorekit[bench]``) the default methods also
include its CPU solvers on the same inputs, with its circular ``BlurFFT`` physics (the
observations are circularly blurred): ``dinv_tv_pgd`` (TV prior, L2 data term, proximal
gradient descent, step 1/‖A‖² = 1, λ = ``--dinv-lambda``, ``--dinv-iterations``
iterations, the TV prox by ``--dinv-tv-iterations`` inner iterations) and
``dinv_tv_fista`` (the same with FISTA). The table adds each method's time relative to
``hqs`` measured in the same run. ``--irls-curve`` also prints PSNR against the number of
Levin IRLS iterations (1, 2, 3, …, 50; cf. SVMAP supplement Table 11).

Usage::

    python benchmarks/nonblind.py --sigma 2.55 --variant dpir_exact
    python benchmarks/nonblind.py --sigma 2.55 7.65 --variant dpir_exact float --out bench_out
    python benchmarks/nonblind.py --methods hqs --pipeline my_svmap.yaml --weights w.safetensors
    python benchmarks/nonblind.py --irls-curve --curve-images 1 --methods none
    python benchmarks/nonblind.py --methods hqs,dinv_tv_pgd --threads 2

Needs the shared test data (``--data``, default ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import convolve

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
KERNEL_NAMES = tuple(f"k{i}" for i in range(1, 9))
IMAGE_NAMES = ("butterfly", "leaves", "starfish")
VARIANTS = ("dpir_exact", "float")
TINY = 1e-9  # our choice: absorbs float round-off before the uint8 truncation

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(y (H, W, 3) float, kernel (h, w) float64) -> x̂ (H, W, 3) float``."""


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def load_levin_kernels(data: Path = DEFAULT_DATA) -> dict[str, np.ndarray]:
    """``k1`` … ``k8`` as float64 arrays in MATLAB orientation (not transposed)."""
    with np.load(Path(data) / "levin09_kernels.npz") as npz:
        return {name: np.asarray(npz[name], dtype=np.float64) for name in KERNEL_NAMES}


def load_set3c(data: Path = DEFAULT_DATA) -> dict[str, np.ndarray]:
    """The three Set3C images as ``(256, 256, 3)`` uint8 (``modcrop(·, 8)`` is a no-op)."""
    out = {}
    for name in IMAGE_NAMES:
        arr = np.asarray(Image.open(Path(data) / "set3c" / f"{name}.png").convert("RGB"))
        h, w = arr.shape[0] - arr.shape[0] % 8, arr.shape[1] - arr.shape[1] % 8
        out[name] = np.ascontiguousarray(arr[:h, :w])
    return out


# --------------------------------------------------------------------------------------
# degradation
# --------------------------------------------------------------------------------------


def blur_dpir_exact(x_u8: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.convolve(x_u8, k[..., None], mode='wrap')`` on uint8 data, i.e. a
    circular true convolution truncated to uint8; returned as float32 in [0, 1]."""
    full = convolve(x_u8.astype(np.float64), kernel[..., None], mode="wrap")
    y_u8 = np.clip(np.floor(full + TINY), 0, 255)
    return (y_u8 / 255.0).astype(np.float32)


def blur_float(x_u8: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Circular true convolution of ``x_u8 / 255`` in float64, no quantisation."""
    return convolve(x_u8.astype(np.float64) / 255.0, kernel[..., None], mode="wrap")


def add_noise(y: np.ndarray, sigma: float, variant: str) -> np.ndarray:
    """Noise of std ``sigma`` (on [0, 1]); the generator is re-seeded with 0 on every call,
    so image ``i`` gets the same noise field for every kernel."""
    if variant == "dpir_exact":
        np.random.seed(0)
        out = y.astype(np.float32).copy()
        out += np.random.normal(0, sigma, out.shape)  # in-place: stays float32, as in DPIR
        return out
    if variant == "float":
        return y + np.random.default_rng(0).normal(0.0, sigma, y.shape)
    raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")


def degrade(x_u8: np.ndarray, kernel: np.ndarray, sigma: float, variant: str) -> np.ndarray:
    """The observation of one (image, kernel, σ) under ``variant`` (no clipping)."""
    y = blur_dpir_exact(x_u8, kernel) if variant == "dpir_exact" else blur_float(x_u8, kernel)
    return add_noise(y, sigma, variant)


# --------------------------------------------------------------------------------------
# metric
# --------------------------------------------------------------------------------------


def to_uint8(x: np.ndarray) -> np.ndarray:
    """``uint8(round(clip(x, 0, 1) · 255))`` (DPIR ``single2uint``)."""
    return np.uint8((np.clip(x, 0.0, 1.0) * 255.0).round())


def psnr_u8(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """PSNR of two uint8 images, float64, peak 255, ``border`` pixels cropped; ∞ if equal."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else float(20 * math.log10(255.0 / math.sqrt(mse)))


# --------------------------------------------------------------------------------------
# methods
# --------------------------------------------------------------------------------------


def _torch_method(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], device: str) -> Method:
    def run(y: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None].float().to(device)
        kt = torch.from_numpy(np.ascontiguousarray(kernel))[None, None].float().to(device)
        with torch.no_grad():
            out = fn(yt, kt)
        return out[0].double().cpu().numpy().transpose(1, 2, 0)

    return run


DEEPINV_METHODS = ("dinv_tv_pgd", "dinv_tv_fista")


def deepinv_available() -> bool:
    try:
        import deepinv  # noqa: F401
    except Exception:  # pragma: no cover - optional dependency
        return False
    return True


def _deepinv_method(name: str, device: str, lam: float, iterations: int, tv_iterations: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """DeepInverse's TV-regularised solver on ``BlurFFT`` (circular) physics, set up as in
    its own TV deblurring example (``examples/optimization/demo_TV_minimisation.py``: Set3C
    and a Levin kernel; step 1, ``TVPrior(n_it_max=20)``, 300 iterations, early stop), with
    λ for our noise level. A fresh solver per image (its TV prox warm-restarts between calls)."""
    import deepinv as dinv
    from deepinv.optim import FISTA, PGD
    from deepinv.optim.data_fidelity import L2
    from deepinv.optim.prior import TVPrior

    cls = {"dinv_tv_pgd": PGD, "dinv_tv_fista": FISTA}[name]

    def run(y: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        model = cls(data_fidelity=L2(), prior=TVPrior(n_it_max=tv_iterations), lambda_reg=lam, stepsize=1.0,
                    max_iter=iterations, early_stop=True)
        physics = dinv.physics.BlurFFT(img_size=tuple(y.shape[1:]), filter=k, device=device)
        return model(y, physics)

    return run


def build_methods(
    names: list[str],
    device: str,
    pipeline: str | None = None,
    weights: str | None = None,
    dinv: dict | None = None,
) -> dict[str, Method]:
    """The methods to benchmark, by name (see the module docstring)."""
    import restorekit
    from restorekit import BlurEstimate

    from restorekit.plugins.svmap.gaussian_init import gaussian_prior_deconv

    def decoder(name: str, **options: object) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        dec = restorekit.create(name, **options).to(device)
        return lambda y, k: dec(y, None, BlurEstimate(kernel=k), None).restored

    def bundled() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        from restorekit.bundled import get_bundled

        pipe = get_bundled("svmap.small").build().to(device)  # plugins/svmap/weights, card inside
        return lambda y, k: pipe({"blurry": y, "kernel": k}).restored

    dinv = dict(dinv or {})
    table: dict[str, Callable[[], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = {
        "gaussian_l2": lambda: lambda y, k: gaussian_prior_deconv(y.double(), k.double(), lam=2e-3, pad=False).float(),
        "hqs": lambda: decoder("svmap.hqs", padding="none"),
        "levin_irls": lambda: decoder("svmap.levin_irls", boundary="circular"),
        "levin_irls_free": lambda: decoder("svmap.levin_irls", boundary="free"),
        "svmap_small": bundled,
    }
    for n in DEEPINV_METHODS:
        table[n] = (lambda n: lambda: _deepinv_method(n, device, dinv.get("lam", 2e-3), dinv.get("iterations", 300),
                                                       dinv.get("tv_iterations", 20)))(n)
    out: dict[str, Method] = {}
    for n in names:
        if n == "none":
            continue
        if n not in table:
            raise SystemExit(f"unknown method {n!r}; choose from {', '.join(table)} (or give --pipeline)")
        if n in DEEPINV_METHODS and not deepinv_available():
            raise SystemExit(f"{n} needs DeepInverse: pip install 'restorekit[bench]' (or pip install deepinv)")
        out[n] = _torch_method(table[n](), device)
    if pipeline is not None:
        pipe = restorekit.load_pipeline(pipeline).to(device).eval()
        if weights is not None:
            from safetensors.torch import load_file

            missing, unexpected = pipe.load_state_dict(load_file(weights, device=device), strict=False)
            if unexpected:
                raise SystemExit(f"{weights}: unexpected keys {unexpected[:5]}… for {pipeline}")
        out[Path(pipeline).stem] = _torch_method(lambda y, k: pipe({"blurry": y, "kernel": k}).restored, device)
    return out


# --------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------


def evaluate(
    methods: dict[str, Method],
    images: dict[str, np.ndarray],
    kernels: dict[str, np.ndarray],
    sigma: float,
    variant: str,
    echo: Callable[..., None] = print,
    pairs: list[tuple[str, str]] | None = None,
) -> dict[str, dict]:
    """``{method: {"psnr": {kernel: {image: dB}}, "seconds": [per image]}}`` over the
    kernels × images grid, or over ``pairs`` of (kernel, image) when given."""
    results: dict[str, dict] = {m: {"psnr": {}, "seconds": []} for m in methods}
    cases = pairs if pairs is not None else [(k, i) for k in kernels for i in images]
    for kname, iname in cases:
        k, x = kernels[kname], images[iname]
        y = degrade(x, k, sigma, variant)
        for m, fn in methods.items():
            t0 = time.perf_counter()
            xhat = fn(y, k)
            results[m]["seconds"].append(time.perf_counter() - t0)
            results[m]["psnr"].setdefault(kname, {})[iname] = psnr_u8(to_uint8(xhat), x)
        echo(f"  {variant} σ={sigma * 255:.2f}/255 {kname} {iname}: " + ", ".join(
            f"{m} {results[m]['psnr'][kname][iname]:.2f} ({results[m]['seconds'][-1]:.1f} s)" for m in methods), flush=True)
    return results


def table_markdown(results: dict[str, dict], blurry: dict[str, dict] | None, title: str, reference: str = "hqs") -> str:
    """Per-kernel mean PSNR (over the images), overall mean, time per image and the time
    relative to ``reference`` (measured in the same run)."""
    kernels = list(next(iter(results.values()))["psnr"]) if results else []
    ref = float(np.mean(results[reference]["seconds"])) if reference in results and results[reference].get("seconds") else None
    extra = f" × {reference} time |" if ref else ""
    lines = [title, "", "| method | " + " | ".join(kernels) + " | mean | s/image |" + extra,
             "|---|" + "---|" * (len(kernels) + 2 + (1 if ref else 0))]
    rows = dict(results)
    if blurry is not None:
        rows = {"blurry (input)": blurry, **rows}
    for m, r in rows.items():
        per_k = [float(np.mean(list(r["psnr"][k].values()))) for k in kernels]
        secs = f"{np.mean(r['seconds']):.2f}" if r.get("seconds") else "–"
        ratio = ""
        if ref:
            ratio = f" {np.mean(r['seconds']) / ref:.1f} |" if r.get("seconds") else " – |"
        lines.append(f"| {m} | " + " | ".join(f"{v:.2f}" for v in per_k) + f" | {np.mean(per_k):.2f} | {secs} |" + ratio)
    return "\n".join(lines) + "\n"


def blurry_scores(images: dict[str, np.ndarray], kernels: dict[str, np.ndarray], sigma: float, variant: str,
                  pairs: list[tuple[str, str]] | None = None) -> dict:
    cases = pairs if pairs is not None else [(k, i) for k in kernels for i in images]
    out: dict = {"psnr": {}}
    for k, i in cases:
        out["psnr"].setdefault(k, {})[i] = psnr_u8(to_uint8(degrade(images[i], kernels[k], sigma, variant)), images[i])
    return out


def irls_curve(
    images: dict[str, np.ndarray],
    kernels: dict[str, np.ndarray],
    sigma: float,
    variant: str,
    iterations: int,
    device: str,
    max_it: int,
    echo: Callable[[str], None] = print,
) -> dict[int, float]:
    """Mean PSNR after t = 0 (L2 solve), 1, …, ``iterations`` Levin IRLS iterations."""
    import restorekit
    from restorekit import BlurEstimate

    dec = restorekit.create("svmap.levin_irls", boundary="circular", irls_iterations=iterations, max_it=max_it).to(device)
    sums = np.zeros(iterations + 1)
    count = 0
    for kname, k in kernels.items():
        for iname, x in images.items():
            y = degrade(x, k, sigma, variant)
            yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None].float().to(device)
            kt = torch.from_numpy(k)[None, None].float().to(device)
            with torch.no_grad():
                its = dec(yt, None, BlurEstimate(kernel=kt), None).extras["iterates"]
            scores = [psnr_u8(to_uint8(t[0].double().cpu().numpy().transpose(1, 2, 0)), x) for t in its]
            sums += np.array(scores)
            count += 1
            echo(f"  curve {kname} {iname}: t=0 {scores[0]:.2f}, t=1 {scores[1]:.2f}, t={iterations} {scores[-1]:.2f}")
    return {t: float(sums[t] / count) for t in range(iterations + 1)}


def parameter_table() -> str:
    """Parameter counts of the default ``svmap.irls`` / ``svmap.simap`` (instantiated and
    counted) beside the supplement's 1.29 M and 1.92 M."""
    import restorekit
    from restorekit.plugins.svmap.svmap_irls import PAPER_PARAMETERS

    lines = ["| model | ours | paper | deviation |", "|---|---|---|---|"]
    for key, name in (("svmap", "svmap.irls"), ("simap", "svmap.simap")):
        n = sum(p.numel() for p in restorekit.create(name).parameters())
        paper = PAPER_PARAMETERS[key]
        lines.append(f"| {key.upper()} (M,N)=(3,5), T=2 | {n:,} | {paper / 1e6:.2f} M | {100 * (n / paper - 1):+.2f} % |")
    return "\n".join(lines)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with levin09_kernels.npz and set3c/")
    ap.add_argument("--sigma", type=float, nargs="+", default=[2.55], help="noise std in 8-bit units (2.55 and/or 7.65)")
    ap.add_argument("--variant", nargs="+", default=["dpir_exact"], choices=VARIANTS)
    ap.add_argument("--methods", default=None,
                    help="comma list (gaussian_l2,hqs,levin_irls,levin_irls_free,svmap_small,dinv_tv_pgd,dinv_tv_fista; 'none'); "
                         "default gaussian_l2,hqs,levin_irls plus dinv_tv_pgd when DeepInverse is installed")
    ap.add_argument("--dinv-lambda", type=float, default=2e-3,
                    help="λ of DeepInverse's TV solvers (2e-3: best of 2e-3, 5e-3, 1e-2 on k1 × butterfly)")
    ap.add_argument("--dinv-iterations", type=int, default=300, help="maximum iterations of DeepInverse's TV solvers (early stop on)")
    ap.add_argument("--dinv-tv-iterations", type=int, default=20, help="inner iterations of its TV prox")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (both libraries run on the same threads)")
    ap.add_argument("--pipeline", default=None, help="a trained pipeline YAML to benchmark as well")
    ap.add_argument("--weights", default=None, help="safetensors weights for --pipeline")
    ap.add_argument("--kernels", default=",".join(KERNEL_NAMES), help="comma list of kernels (default all 8)")
    ap.add_argument("--images", default=",".join(IMAGE_NAMES), help="comma list of Set3C images (default all 3)")
    ap.add_argument("--pairs", default=None,
                    help="comma list of kernel:image pairs instead of the kernels × images grid (e.g. k1:butterfly,k2:leaves)")
    ap.add_argument("--irls-curve", action="store_true", help="also print PSNR vs Levin IRLS iterations")
    ap.add_argument("--curve-iterations", type=int, default=50)
    ap.add_argument("--curve-images", type=int, default=1, help="images (from --images) used for the curve")
    ap.add_argument("--curve-max-it", type=int, default=200, help="CG iterations per solve in the curve")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, default=None, help="write results.json and results.md here")
    ap.add_argument("--params", action="store_true", help="print SVMAP/SIMAP parameter counts beside the paper's and exit")
    args = ap.parse_args(argv)
    if args.params:
        print(parameter_table())
        return 0

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.methods is None:
        args.methods = "gaussian_l2,hqs,levin_irls" + (",dinv_tv_pgd" if deepinv_available() else "")
        if not deepinv_available():
            print("(DeepInverse is not installed: pip install 'restorekit[bench]' adds its TV-PGD to the table)")
    kernels_all = load_levin_kernels(args.data)
    images_all = load_set3c(args.data)
    kernels = {k: kernels_all[k] for k in args.kernels.split(",")}
    images = {i: images_all[i] for i in args.images.split(",")}
    pairs = None
    if args.pairs:
        pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
        kernels = {k: kernels_all[k] for k, _ in pairs}
        images = {i: images_all[i] for _, i in pairs}
    dinv = {"lam": args.dinv_lambda, "iterations": args.dinv_iterations, "tv_iterations": args.dinv_tv_iterations}
    methods = build_methods([m.strip() for m in args.methods.split(",") if m.strip()], args.device, args.pipeline, args.weights, dinv)
    hw = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}"
    if any(m in DEEPINV_METHODS for m in methods):
        import deepinv

        hw += (f"; deepinv {deepinv.__version__} (λ {args.dinv_lambda}, {args.dinv_iterations} iterations, "
               f"TV prox {args.dinv_tv_iterations} inner iterations)")
    if args.device.startswith("cuda"):
        hw += f" ({torch.cuda.get_device_name()})"
    print(f"non-blind benchmark on {hw}")
    report: dict = {"hardware": hw, "runs": []}
    md = [f"Hardware: {hw}\n"]
    for variant in args.variant:
        for s in args.sigma:
            sigma = s / 255.0
            if methods:
                res = evaluate(methods, images, kernels, sigma, variant, pairs=pairs)
                blurry = blurry_scores(images, kernels, sigma, variant, pairs)
                title = f"### set3c_levin `{variant}`, σ = {s}/255 (PSNR dB, uint8 RGB, border 0)"
                text = table_markdown(res, blurry, title)
                print(text)
                md.append(text)
                report["runs"].append({"variant": variant, "sigma_255": s, "results": res, "blurry": blurry})
    if args.irls_curve:
        s = args.sigma[0]
        curve_images = dict(list(images.items())[: args.curve_images])
        curve = irls_curve(curve_images, kernels, s / 255.0, args.variant[0], args.curve_iterations, args.device, args.curve_max_it)
        shown = [t for t in (0, 1, 2, 3, 5, 10, 20, 30, 40, 50) if t <= args.curve_iterations]
        text = (f"### Levin IRLS: mean PSNR vs IRLS iterations ({args.variant[0]}, σ = {s}/255, "
                f"{len(curve_images)} image(s) × {len(kernels)} kernels, {args.curve_max_it} CG its; t = 0 is the L2 solve)\n\n"
                "| t | " + " | ".join(map(str, shown)) + " |\n|---|" + "---|" * len(shown) + "\n"
                "| PSNR | " + " | ".join(f"{curve[t]:.2f}" for t in shown) + " |\n")
        print(text)
        md.append(text)
        report["irls_curve"] = curve
    if args.out is not None:
        _atomic_write(args.out / "results.json", json.dumps(report, indent=1, default=float))
        _atomic_write(args.out / "results.md", "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

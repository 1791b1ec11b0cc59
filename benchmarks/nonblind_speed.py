"""Speed of the non-blind solvers of the ``svmap`` plugin, as ratios measured in one run.

1. **HQS near its FFT limit.** ``svmap.hqs`` (default options: float32, replicate padding +
   edge taper, circular x-steps) on a ``--size``² RGB image (1024² by default): its total
   time against the time of its own FFT pairs (6 x-steps, one ``rfft2`` + one ``irfft2``
   each, on the padded image in the solver's precision), and seconds per megapixel.
2. **Before / after.** On a 256² RGB Set3C image blurred by a Levin kernel (protocol
   ``set3c_levin`` ``dpir_exact``, σ = 2.55/255): time and PSNR of ``svmap.hqs``,
   ``svmap.levin_irls`` (circular and free boundary) and the bundled small SVMAP, for the
   current code and — with ``--baseline COMMIT`` — for the ``svmap`` plugin of that commit
   (extracted with ``git archive`` into a temporary package and imported side by side, so
   both run in the same process on the same input): speed-up and PSNR difference.

Usage::

    python benchmarks/nonblind_speed.py --threads 2 --baseline bd2a2b0
    python benchmarks/nonblind_speed.py --threads 1 --baseline bd2a2b0 --skip-hqs --skip-compare \\
        --table all --table-methods "hqs (circular)"
    python benchmarks/nonblind_speed.py --threads 2 --size 1024 --skip-compare
    taskset -c 0,1 python benchmarks/nonblind_speed.py --threads 2 --baseline old_svmap/ --data data/

Never used in tests (timings are not asserted anywhere); numbers depend on the machine
and its load, ratios much less.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import nonblind as nb  # noqa: E402


def _timed(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up (allocations, OTF cache, thread pools)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def hqs_fft_ratio(size: int, repeats: int, data: Path) -> str:
    import restorekit
    from restorekit import BlurEstimate
    from restorekit.plugins.svmap.physics import free_boundary_padding

    gen = torch.Generator().manual_seed(0)
    # a natural image (Set3C butterfly, bicubically enlarged) blurred circularly by Levin k1 + 1 % noise
    x = torch.from_numpy(nb.load_set3c(data)["butterfly"].transpose(2, 0, 1).copy()).float()[None] / 255.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic").clamp(0, 1)
    k = torch.from_numpy(nb.load_levin_kernels(data)["k1"])[None, None].float()
    from restorekit.functional import conv2d

    y = conv2d(x, k, boundary="circular") + 0.01 * torch.randn(x.shape, generator=gen)
    hqs = restorekit.create("svmap.hqs")
    est = BlurEstimate(kernel=k)
    with torch.no_grad():
        t_hqs, _ = _timed(lambda: hqs(y, None, est, None).restored, repeats)
    top, bottom, left, right = free_boundary_padding(tuple(k.shape[-2:]))
    yp = torch.nn.functional.pad(y, (left, right, top, bottom), mode="replicate")
    n = len(hqs.betas) * hqs.inner_iterations

    def pairs() -> torch.Tensor:
        z = yp
        for _ in range(n):
            z = torch.fft.irfft2(torch.fft.rfft2(z), s=yp.shape[-2:])
        return z

    t_fft, _ = _timed(pairs, repeats)
    mp = size * size / 1e6
    return (
        f"### svmap.hqs at {size}×{size} RGB ({tuple(yp.shape)} padded, float32)\n\n"
        f"| HQS total | its {n} FFT pairs | ratio | s per megapixel (RGB) |\n|---|---|---|---|\n"
        f"| {t_hqs:.3f} s | {t_fft:.3f} s | {t_hqs / t_fft:.2f}× | {t_hqs / mp:.3f} |\n"
    )


def _baseline_package(baseline: str, workdir: Path) -> str:
    """The ``svmap`` plugin of ``baseline`` as the importable package ``svmap_baseline``:
    ``baseline`` is a git commit (extracted with ``git archive``) or a folder holding the
    plugin's files (for machines without the repository's history)."""
    import shutil

    target = workdir / "svmap_baseline"
    if Path(baseline).is_dir():
        shutil.copytree(baseline, target)
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline, "plugins/svmap"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
        (workdir / "plugins" / "svmap").rename(target)
    sys.path.insert(0, str(workdir))
    return "svmap_baseline"


def _methods_now() -> dict:
    import restorekit
    from restorekit import BlurEstimate
    from restorekit.bundled import get_bundled

    def dec(name: str, **opts):
        d = restorekit.create(name, **opts)
        return lambda y, k: d(y, None, BlurEstimate(kernel=k), None).restored

    pipe = get_bundled("svmap.small").build()
    return {
        "hqs (circular)": dec("svmap.hqs", padding="none"),
        "levin_irls (circular)": dec("svmap.levin_irls", boundary="circular"),
        "levin_irls (free)": dec("svmap.levin_irls", boundary="free"),
        "svmap_small (bundled)": lambda y, k: pipe({"blurry": y, "kernel": k}).restored,
    }


def _methods_baseline(package: str) -> dict:
    from safetensors.torch import load_file

    from restorekit import BlurEstimate
    from restorekit.bundled import get_bundled

    hqs = importlib.import_module(f"{package}.hqs").HQS
    levin = importlib.import_module(f"{package}.levin_irls").LevinIRLS
    svmap = importlib.import_module(f"{package}.svmap_irls").SVMAP
    entry = get_bundled("svmap.small")  # the same weights file, its card's pipeline
    import inspect

    known = inspect.signature(svmap.__init__).parameters  # the baseline may predate newer options (map_input)
    opts = {k: v for k, v in entry.pipeline["model"]["decoder"].items() if k in known}
    model = svmap(**opts).eval()
    state = {k[len("decoder."):]: v for k, v in load_file(str(entry.weights)).items() if k.startswith("decoder.")}
    model.load_state_dict(state)

    def run(d):
        return lambda y, k: d(y, None, BlurEstimate(kernel=k), None).restored

    return {
        "hqs (circular)": run(hqs(padding="none")),
        "levin_irls (circular)": run(levin(boundary="circular")),
        "levin_irls (free)": run(levin(boundary="free")),
        "svmap_small (bundled)": run(model),
    }


def compare(baseline: str | None, kernel: str, image: str, repeats: int, data: Path,
            methods: list[str] | None = None) -> str:
    x = nb.load_set3c(data)[image]
    k = nb.load_levin_kernels(data)[kernel]
    y = nb.degrade(x, k, 2.55 / 255, "dpir_exact")
    yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None].float()
    kt = torch.from_numpy(k)[None, None].float()
    rows = {"now": _methods_now()}
    tmp = None
    if baseline:
        tmp = tempfile.TemporaryDirectory()
        rows["baseline"] = _methods_baseline(_baseline_package(baseline, Path(tmp.name)))
    res: dict[str, dict[str, tuple[float, float]]] = {}
    names = [n for n in rows["now"] if methods is None or n in methods]
    if methods is not None and len(names) != len(methods):
        raise SystemExit(f"--methods: unknown solver names {sorted(set(methods) - set(names))}; use {sorted(rows['now'])}")
    for name in names:
        for which, solvers in rows.items():
            with torch.no_grad():
                t, out = _timed(lambda: solvers[name](yt, kt), repeats)
            p = nb.psnr_u8(nb.to_uint8(out[0].double().numpy().transpose(1, 2, 0)), x)
            res.setdefault(name, {})[which] = (t, p)
            print(f"  {name:<24s} {which:<8s} {t:7.2f} s  {p:.3f} dB", flush=True)
    head = f"### 256² RGB, Set3C {image} ⊛ Levin {kernel}, σ = 2.55/255 (dpir_exact)\n\n"
    if baseline:
        lines = [head + f"| solver | before ({baseline}) s | now s | speed-up | PSNR before | PSNR now | Δ dB |", "|---|---|---|---|---|---|---|"]
        for name, r in res.items():
            (tb, pb), (tn, pn) = r["baseline"], r["now"]
            lines.append(f"| {name} | {tb:.2f} | {tn:.2f} | {tb / tn:.1f}× | {pb:.2f} | {pn:.2f} | {pn - pb:+.2f} |")
    else:
        lines = [head + "| solver | s | PSNR |", "|---|---|---|"]
        for name, r in res.items():
            tn, pn = r["now"]
            lines.append(f"| {name} | {tn:.2f} | {pn:.2f} |")
    if tmp is not None:
        tmp.cleanup()
    return "\n".join(lines) + "\n"


def psnr_table(baseline: str, pairs: list[tuple[str, str]], methods: list[str], data: Path) -> str:
    """The Set3C σ = 2.55/255 (``dpir_exact``) PSNR of ``methods`` on ``pairs`` (kernel, image),
    now and with the ``baseline`` plugin, each case run once: the "table unchanged" check."""
    images, kernels = nb.load_set3c(data), nb.load_levin_kernels(data)
    tmp = tempfile.TemporaryDirectory()
    rows = {"now": _methods_now(), "baseline": _methods_baseline(_baseline_package(baseline, Path(tmp.name)))}
    res: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for kname, iname in pairs:
        x, k = images[iname], kernels[kname]
        y = nb.degrade(x, k, 2.55 / 255, "dpir_exact")
        yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None].float()
        kt = torch.from_numpy(k)[None, None].float()
        for name in methods:
            for which in ("baseline", "now"):
                t0 = time.perf_counter()
                with torch.no_grad():
                    out = rows[which][name](yt, kt)
                t = time.perf_counter() - t0
                p = nb.psnr_u8(nb.to_uint8(out[0].double().numpy().transpose(1, 2, 0)), x)
                res.setdefault(name, {}).setdefault(which, []).append((t, p))
                print(f"  {kname}:{iname} {name:<24s} {which:<8s} {t:7.2f} s  {p:.3f} dB", flush=True)
    tmp.cleanup()
    lines = [f"### Set3C × Levin, σ = 2.55/255 (dpir_exact), {len(pairs)} kernel–image pairs: before ({baseline}) vs now\n",
             f"| solver | PSNR before | PSNR now | mean Δ dB | max \\|Δ\\| dB | s/image before | s/image now | speed-up |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        pb = np.array([p for _, p in r["baseline"]])
        pn = np.array([p for _, p in r["now"]])
        tb = float(np.mean([t for t, _ in r["baseline"]]))
        tn = float(np.mean([t for t, _ in r["now"]]))
        lines.append(f"| {name} | {pb.mean():.2f} | {pn.mean():.2f} | {(pn - pb).mean():+.3f} | {np.abs(pn - pb).max():.3f} | "
                     f"{tb:.2f} | {tn:.2f} | {tb / tn:.1f}× |")
    return "\n".join(lines) + "\n"


def tiny_pipeline_times(names: list[str], batch: int, size: int = 64) -> str:
    """Forward and backward time of the tiny builds of ``pipelines/<name>.yaml`` that
    ``tests/core/test_every_pipeline.py`` trains (its ``_shrink``: 3 CG steps, default widths),
    on a ``batch × 3 × size²`` batch, in train mode."""
    import yaml

    import restorekit

    sys.path.insert(0, str(ROOT))
    from tests.core.test_every_pipeline import _batch, _shrink

    lines = [f"### tiny pipelines of tests/core/test_every_pipeline.py, {batch}×3×{size}², train mode\n",
             "| pipeline | forward s | backward s |", "|---|---|---|"]
    for name in names:
        pipe = restorekit.load_pipeline(_shrink(yaml.safe_load((ROOT / "pipelines" / f"{name}.yaml").read_text())))
        pipe.train()
        b = {k: v[:batch] for k, v in _batch(size, True).items()}
        b["blurry"].requires_grad_(True)
        t0 = time.perf_counter()
        out = pipe(b)
        t1 = time.perf_counter()
        (out.restored - b["sharp"]).square().mean().backward()
        t2 = time.perf_counter()
        lines.append(f"| {name}.yaml | {t1 - t0:.2f} | {t2 - t1:.2f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (2 = the target machine)")
    ap.add_argument("--size", type=int, default=1024, help="side of the HQS image")
    ap.add_argument("--baseline", default=None, help="git commit (or folder) whose svmap plugin to time side by side")
    ap.add_argument("--data", type=Path, default=nb.DEFAULT_DATA, help="folder with levin09_kernels.npz and set3c/")
    ap.add_argument("--kernel", default="k1")
    ap.add_argument("--image", default="butterfly")
    ap.add_argument("--repeats", type=int, default=3, help="timed repetitions after a warm-up (best is reported)")
    ap.add_argument("--skip-hqs", action="store_true")
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--table", default=None,
                    help="with --baseline: kernel:image pairs (e.g. k1:butterfly,k4:leaves; 'all' = 8 × 3) for the "
                         "before/now PSNR table")
    ap.add_argument("--table-methods", default="hqs (circular),levin_irls (circular)",
                    help="comma list of solver names of the comparison (see the table rows)")
    ap.add_argument("--methods", default=None,
                    help="comma list of the solvers to compare (default: all rows, e.g. 'svmap_small (bundled)')")
    ap.add_argument("--pipelines", default=None,
                    help="comma list of pipelines/*.yaml stems: time forward/backward of their tiny test builds "
                         "(e.g. svmap,simap,hqs) and exit")
    ap.add_argument("--batch", type=int, default=2, help="batch of --pipelines")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    if args.pipelines:
        print(tiny_pipeline_times([n.strip() for n in args.pipelines.split(",")], args.batch))
        return 0
    if not args.skip_hqs:
        print(hqs_fft_ratio(args.size, args.repeats, args.data), flush=True)
    if args.table:
        if not args.baseline:
            raise SystemExit("--table needs --baseline COMMIT")
        if args.table == "all":
            pairs = [(k, i) for k in nb.KERNEL_NAMES for i in nb.IMAGE_NAMES]
        else:
            pairs = [tuple(p.split(":")) for p in args.table.split(",")]
        print(psnr_table(args.baseline, pairs, [m.strip() for m in args.table_methods.split(",")], args.data), flush=True)
    if not args.skip_compare:
        methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
        print(compare(args.baseline, args.kernel, args.image, max(1, args.repeats - 2), args.data, methods))
    return 0


if __name__ == "__main__":
    sys.exit(main())

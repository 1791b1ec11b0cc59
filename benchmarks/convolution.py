"""Spatial (grouped conv2d) vs FFT uniform convolution: where should ``method="auto"`` switch?

Usage::

    python benchmarks/convolution.py [--device cpu|cuda] [--size 256] [--batch 1]
        [--channels 3] [--kernels 3,7,11,15,19,25,33,45] [--boundary circular]
        [--dtype float32] [--repeats 5]

For each square kernel size, times ``restorekit.functional.conv2d`` forward with
``method="spatial"`` and ``method="fft"`` (median of ``--repeats`` after one warm-up,
CUDA synchronised) and reports which is faster and which one ``auto`` picks
(``FFT_AUTO_MIN_TAPS`` = 225 taps, i.e. 15×15). Also checks that both methods agree.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from restorekit.functional import FFT_AUTO_MIN_TAPS, conv2d


def _time(fn, device: torch.device, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--kernels", default="3,7,11,15,19,25,33,45")
    ap.add_argument("--boundary", default="circular")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, args.channels, args.size, args.size, generator=gen, dtype=dtype).to(device)
    print(f"device={device} image={tuple(x.shape)} dtype={args.dtype} boundary={args.boundary} threads={torch.get_num_threads()}")
    print(f"{'kernel':>7} {'spatial ms':>11} {'fft ms':>9} {'faster':>8} {'auto':>8} {'max |diff|':>11}")
    for s in (int(v) for v in args.kernels.split(",")):
        k = torch.rand(1, 1, s, s, generator=gen, dtype=dtype).to(device)
        k = k / k.sum()
        ts = _time(lambda: conv2d(x, k, args.boundary, method="spatial"), device, args.repeats)
        tf = _time(lambda: conv2d(x, k, args.boundary, method="fft"), device, args.repeats)
        diff = float((conv2d(x, k, args.boundary, method="spatial") - conv2d(x, k, args.boundary, method="fft")).abs().max())
        auto = "fft" if s * s >= FFT_AUTO_MIN_TAPS else "spatial"
        print(f"{s:>4}x{s:<2} {ts * 1e3:>11.2f} {tf * 1e3:>9.2f} {'fft' if tf < ts else 'spatial':>8} {auto:>8} {diff:>11.2e}")


if __name__ == "__main__":
    main()

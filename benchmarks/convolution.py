"""Spatial (grouped conv2d) vs FFT uniform convolution: where should ``method="auto"`` switch?

Usage::

    python benchmarks/convolution.py [--device cpu|cuda] [--size 256] [--batch 1]
        [--channels 3] [--kernels 3,7,11,15,19,25,33,45] [--boundary circular]
        [--dtype float32] [--repeats 5]

For each square kernel size, times ``restorekit.functional.conv2d`` forward and adjoint
with ``method="spatial"`` and ``method="fft"`` (median of ``--repeats`` after one warm-up,
CUDA synchronised) and reports which is faster and which one ``auto`` picks
(``FFT_AUTO_MIN_TAPS_CPU`` = 25 taps, 5×5, on the CPU; ``FFT_AUTO_MIN_TAPS`` = 225, 15×15,
on CUDA; kernels of at most ``SHIFT_MAX_TAPS`` = 9 taps use shifted multiply-adds on the
spatial path). Also checks that both methods agree. ``--threads`` sets the CPU threads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from restorekit.functional import FFT_AUTO_MIN_TAPS, FFT_AUTO_MIN_TAPS_CPU, conv2d, conv2d_adjoint


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
    ap.add_argument("--kernels", default="2,3,5,7,11,13,15,19,25,33,45")
    ap.add_argument("--boundary", default="circular")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, args.channels, args.size, args.size, generator=gen, dtype=dtype).to(device)
    print(f"device={device} image={tuple(x.shape)} dtype={args.dtype} boundary={args.boundary} threads={torch.get_num_threads()}")
    threshold = FFT_AUTO_MIN_TAPS_CPU if device.type == "cpu" else FFT_AUTO_MIN_TAPS
    print(f"{'kernel':>7} {'spatial ms':>11} {'fft ms':>9} {'adj spatial':>12} {'adj fft':>9} {'faster':>8} {'auto':>8} {'max |diff|':>11}")
    for s in (int(v) for v in args.kernels.split(",")):
        k = torch.rand(1, 1, s, s, generator=gen, dtype=dtype).to(device)
        k = k / k.sum()
        y = conv2d(x, k, args.boundary, method="spatial")
        ts = _time(lambda: conv2d(x, k, args.boundary, method="spatial"), device, args.repeats)
        tf = _time(lambda: conv2d(x, k, args.boundary, method="fft"), device, args.repeats)
        tas = _time(lambda: conv2d_adjoint(y, k, args.boundary, method="spatial"), device, args.repeats)
        taf = _time(lambda: conv2d_adjoint(y, k, args.boundary, method="fft"), device, args.repeats)
        diff = float((y - conv2d(x, k, args.boundary, method="fft")).abs().max())
        auto = "fft" if s * s >= threshold else "spatial"
        faster = "fft" if tf + taf < ts + tas else "spatial"
        print(f"{s:>4}x{s:<2} {ts * 1e3:>11.2f} {tf * 1e3:>9.2f} {tas * 1e3:>12.2f} {taf * 1e3:>9.2f} {faster:>8} {auto:>8} {diff:>11.2e}")


if __name__ == "__main__":
    main()

"""Time the RKR operator three ways: per-pixel kernels, the unfused recursion, the fused kernel.

Usage::

    python benchmarks/operators.py [--device cpu|cuda] [--size 1280x720] [--J 21] [--repeats N]
                                   [--crop 64] [--dtype float32]

At ``--size WxH`` (default 1280×720, the paper's Table 1 resolution), ``J`` recursion steps
(reference form, Γ with J+1 channels, 3 colours, batch 1), forward and forward+backward:

(a) per-pixel kernels: each pixel's composed (2J+1)² kernel per colour,
    ``K_{h,w,c} = Σ_j Γ_j[h,w] w_j K_{j,c}``, applied by zero pad → unfold → multiply → sum
    (the reference ``pixel_filter_apply``). The kernels are built beforehand (not timed), as
    a network predicting per-pixel kernels would output them. Their memory
    (3·(2J+1)²·H·W floats, ≈ 20 GB at 1280×720) forces a ``--crop`` × ``--crop`` window:
    its time is scaled by (H·W)/(crop²) to the full image and the table says so;
(b) the unfused PyTorch recursion (``nrknet.rkr``, ``backend: reference``) on the full image;
(c) the fused Triton kernel (``backend: triton``) when CUDA and Triton are available,
    otherwise a skipped row with the reason.

To make (a) and (b) the *same* operator, the operator's 1×1 mixing is set to a per-colour
diagonal ``W[o, 3j+c'] = δ(o,c') w_j`` (random ``w_j``), so the per-pixel kernels are exact;
the script checks (a) == (b) on the crop interior before timing.

Memory: on CUDA ``torch.cuda.max_memory_allocated`` above the inputs; on CPU the peak of
the process resident set (RSS, sampled every 0.5 ms by a thread) above the RSS before the
call, after returning freed heap memory to the OS (glibc ``malloc_trim``). Traffic: the forward model of operators_and_kernels.md §6 (RKR: unfused 18J+22(J+1)+3,
fused J+7 floats/pixel; per-pixel unfold: 3s²+1 per colour, §3), in floats per pixel and
MB for the image. "BW-bound" is model bytes / measured copy bandwidth of the device (a
lower bound on the time of the forward pass); "eff. GB/s" is model bytes / measured time.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch

from restorekit.kernels import reference as kref
from restorekit.kernels import rkr_traffic_floats_per_pixel, triton_available
from restorekit.plugins.nrknet.rkr import RecursiveKernelOperator

# ---------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), so that an RSS peak measures new allocations."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the RSS delta is then a lower bound
        pass


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _RssPeak:
    """Peak RSS above the starting RSS while the ``with`` block runs (Linux /proc)."""

    def __init__(self, interval_s: float = 5e-4) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> "_RssPeak":
        self.start = _rss_bytes()
        self.peak = self.start
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(fn: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, float]:
    """(best time in ms, peak memory in MB) of ``fn`` after one warm-up call.

    The minimum over ``repeats`` is reported rather than the median: on a shared machine
    the noise from other processes only ever adds time.
    """
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        _sync(device)
        mem = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        gc.collect()
        _malloc_trim()
        with _RssPeak() as peak:
            fn()
        mem = peak.delta_mb
    return min(times), mem


def _copy_bandwidth_gbs(device: torch.device, mb: int = 256) -> float:
    """Measured device memory bandwidth, GB/s: read + write of a large tensor copy."""
    n = mb * 2**20 // 4
    a = torch.empty(n, dtype=torch.float32, device=device).uniform_()
    b = torch.empty_like(a)
    b.copy_(a)
    _sync(device)
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        b.copy_(a)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.numel() * 4 / best / 1e9


# ---------------------------------------------------------------------------------------
# the three methods
# ---------------------------------------------------------------------------------------


@dataclass
class Row:
    method: str
    pass_: str
    time_ms: float | None
    mem_mb: float | None
    floats_px: float | None
    note: str = ""


def _build_operator(j: int, device: torch.device, dtype: torch.dtype, backend: str, seed: int) -> RecursiveKernelOperator:
    torch.manual_seed(seed)
    op = RecursiveKernelOperator(form="reference", num_kernels=j, channels=3, backend=backend).to(device=device, dtype=dtype)
    w_j = torch.rand(j + 1, generator=torch.Generator().manual_seed(seed + 1)) * 2 / (j + 1)
    diag = torch.zeros(3, j + 1, 3)
    diag[:, :, :] = torch.eye(3)[:, None, :] * w_j[None, :, None]  # W[o, 3j+c'] = δ(o,c') w_j
    with torch.no_grad():
        op.mixing.weight.copy_(diag.reshape(3, 3 * (j + 1), 1, 1).to(device=device, dtype=dtype))
        op.mixing.bias.zero_()
    return op


def _per_colour_kernels(op: RecursiveKernelOperator, gamma: torch.Tensor) -> torch.Tensor:
    """Per-pixel, per-colour kernels ``(1, 3, S², h, w)`` of the (diagonal-mixing) operator."""
    with torch.no_grad():
        terms = op.term_kernels().to(gamma.dtype)  # (J+1, 3, S, S)
        g, c, s, _ = terms.shape
        w_j = op.mixing_matrix().reshape(c, g, c).diagonal(dim1=0, dim2=2)  # (J+1, C): W[c, j, c]
        return torch.einsum("bjhw,jc,jcq->bcqhw", gamma, w_j.to(gamma.dtype), terms.reshape(g, c, s * s)).contiguous()


def run(args: argparse.Namespace) -> list[Row]:
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    width, height = (int(v) for v in args.size.lower().split("x"))
    j = args.J
    s = 2 * j + 1
    n_pix = width * height
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, height, width, generator=gen).to(device=device, dtype=dtype)
    gamma = torch.softmax(torch.randn(1, j + 1, height, width, generator=gen), dim=1).to(device=device, dtype=dtype)
    op = _build_operator(j, device, dtype, "reference", seed=0)

    rows: list[Row] = []

    # (a) per-pixel kernels on a crop --------------------------------------------------
    crop = min(args.crop, height, width)
    y0, x0 = (height - crop) // 2, (width - crop) // 2
    xc = x[..., y0 : y0 + crop, x0 : x0 + crop].contiguous()
    gc = gamma[..., y0 : y0 + crop, x0 : x0 + crop].contiguous()
    filters = _per_colour_kernels(op, gc)
    with torch.no_grad():  # (a) and (b) are the same operator away from the border
        ya = kref.pixel_filter_apply(xc, filters)
        yb = op.A(xc, coefficients=gc)
        m = j
        err = (ya - yb)[..., m:-m, m:-m].abs().max().item() if crop > 2 * m else float("nan")
    scale = n_pix / (crop * crop)
    note_a = f"{crop}x{crop} crop, time x{scale:.0f} to full image; interior max|a-b| = {err:.1e}"

    def a_fwd() -> object:
        with torch.no_grad():
            return kref.pixel_filter_apply(xc, filters)

    def a_fwdbwd() -> object:
        xg = xc.detach().requires_grad_(True)
        fg = filters.detach().requires_grad_(True)
        kref.pixel_filter_apply(xg, fg).square().sum().backward()
        return xg.grad

    per_px_floats = 3 * (3 * s * s + 1)  # spec §3: 3s²+1 per colour, unfused unfold path
    for name, fn, model in (("fwd", a_fwd, per_px_floats), ("fwd+bwd", a_fwdbwd, None)):
        t, mem = _measure(fn, device, args.repeats)
        note = f"{note_a}; peak MB is for the crop (x{scale:.0f} = {mem * scale / 1024:.0f} GB for the full image)"
        rows.append(Row(f"(a) per-pixel {s}x{s} (unfold)", name, t * scale, mem, model, note))
    del filters

    # (b) unfused recursion (reference) and (c) fused Triton -----------------------------
    def fwd_of(o: RecursiveKernelOperator) -> Callable[[], object]:
        def f() -> object:
            with torch.no_grad():
                return o.A(x, coefficients=gamma)

        return f

    def fwdbwd_of(o: RecursiveKernelOperator) -> Callable[[], object]:
        def f() -> object:
            xg = x.detach().requires_grad_(True)
            gg = gamma.detach().requires_grad_(True)
            o.zero_grad(set_to_none=True)
            o.A(xg, coefficients=gg).square().sum().backward()
            return xg.grad

        return f

    unfused = rkr_traffic_floats_per_pixel(j, fused=False)
    for name, fn, model in (("fwd", fwd_of(op), unfused), ("fwd+bwd", fwdbwd_of(op), None)):
        t, mem = _measure(fn, device, args.repeats)
        rows.append(Row("(b) RKR unfused (PyTorch)", name, t, mem, model, "full image"))

    fused = rkr_traffic_floats_per_pixel(j, fused=True, tile=64)
    if device.type != "cuda":
        reason = "skipped: no CUDA device (Triton kernels need a GPU)"
    elif not triton_available("rkr_apply"):
        reason = "skipped: the Triton rkr_apply kernel is not importable"
    else:
        reason = ""
    if reason:
        rows.append(Row("(c) RKR fused (Triton)", "fwd", None, None, fused, reason))
    else:
        op_t = _build_operator(j, device, dtype, "triton", seed=0)
        with torch.no_grad():
            diff = (op_t.A(x, coefficients=gamma) - op.A(x, coefficients=gamma)).abs().max().item()
        for name, fn, model in (("fwd", fwd_of(op_t), fused), ("fwd+bwd", fwdbwd_of(op_t), None)):
            t, mem = _measure(fn, device, args.repeats)
            rows.append(Row("(c) RKR fused (Triton)", name, t, mem, model, f"full image; max|c-b| = {diff:.1e}"))
    return rows


def _fmt(v: float | None, spec: str) -> str:
    width = int(spec.split(".")[0])
    return "—".rjust(width) if v is None else format(v, spec)


def report(rows: list[Row], args: argparse.Namespace, bandwidth_gbs: float) -> str:
    width, height = (int(v) for v in args.size.lower().split("x"))
    n_pix = width * height
    bytes_per_float = torch.finfo(getattr(torch, args.dtype)).bits // 8
    mem_kind = "torch.cuda.max_memory_allocated" if args.device == "cuda" else "peak RSS delta (sampled)"
    lines = [
        f"RKR operator, {width}x{height}, J = {args.J}, 3 colours, batch 1, {args.dtype}, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else f" (torch threads {torch.get_num_threads()})"),
        f"memory: {mem_kind}; traffic: forward model (spec §6/§3); measured copy bandwidth {bandwidth_gbs:.1f} GB/s",
        "",
        f"| {'method':34s} | {'pass':7s} | {'time ms':>10s} | {'peak MB':>8s} | {'floats/px':>9s} | {'model MB':>9s} | {'eff GB/s':>8s} | {'BW-bound ms':>11s} | note",
        f"|{'-' * 36}|{'-' * 9}|{'-' * 12}|{'-' * 10}|{'-' * 11}|{'-' * 11}|{'-' * 10}|{'-' * 13}|------",
    ]
    for r in rows:
        model_mb = None if r.floats_px is None else r.floats_px * n_pix * bytes_per_float / 1e6
        eff = None if (model_mb is None or r.time_ms is None) else model_mb / 1e3 / (r.time_ms / 1e3)
        bound = None if model_mb is None else model_mb / 1e3 / bandwidth_gbs * 1e3
        lines.append(
            f"| {r.method:34s} | {r.pass_:7s} | {_fmt(r.time_ms, '10.1f')} | {_fmt(r.mem_mb, '8.0f')} | "
            f"{_fmt(r.floats_px, '9.0f')} | {_fmt(model_mb, '9.0f')} | {_fmt(eff, '8.1f')} | {_fmt(bound, '11.1f')} | {r.note}"
        )
    by = {(r.method[:3], r.pass_): r.time_ms for r in rows}
    lines.append("")
    for p in ("fwd", "fwd+bwd"):
        ta, tb, tc = by.get(("(a)", p)), by.get(("(b)", p)), by.get(("(c)", p))
        if ta and tb:
            ratio = ta / tb
            verdict = "meets" if ratio >= 20 else "BELOW"
            lines.append(f"speed-up of the recursion (b) over per-pixel kernels (a), {p}: {ratio:.1f}x ({verdict} the 20x target)")
        if tb and tc:
            lines.append(f"speed-up of fused (c) over unfused (b), {p}: {tb / tc:.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--J", type=int, default=21, help="recursion steps (reference form; default 21)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions after one warm-up (the best is reported)")
    parser.add_argument("--crop", type=int, default=None, help="crop side for (a) (default 64 on CPU, 256 on CUDA)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is available; use --device cpu")
    if args.crop is None:
        args.crop = 256 if args.device == "cuda" else 64
    bandwidth = _copy_bandwidth_gbs(torch.device(args.device))
    rows = run(args)
    print(report(rows, args, bandwidth))
    return 0


if __name__ == "__main__":
    sys.exit(main())

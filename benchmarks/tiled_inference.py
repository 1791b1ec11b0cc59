"""Tiled vs untiled inference: wall time and peak memory for a large image.

Each configuration runs in a fresh subprocess so that the peak resident set size (CPU) or
``torch.cuda.max_memory_allocated`` (CUDA) belongs to that configuration alone.

    python benchmarks/tiled_inference.py --height 3000 --width 4000 --tile 512 --overlap 32
    python benchmarks/tiled_inference.py --pipeline pipelines/tiny.yaml --device cuda

The default model is the tiny pipeline (`pipelines/tiny.yaml`, random weights) with a 5×5
box kernel in the batch; weights do not change the cost.

Measured on the development VM (shared 2-core x86 CPU, 1 thread, no GPU), 4000×3000 RGB,
tiny pipeline: tiled (tile 512, overlap 32) 61.0 s and 1.24 GiB peak RSS; untiled 90.2 s
and 4.26 GiB peak RSS (≈0.7 GiB of either is the interpreter, torch and the two 12-MP
float images).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(args: argparse.Namespace) -> dict[str, float | str | None]:
    import torch

    from restorekit import load_pipeline
    from restorekit.inference.deblur import deblur_image

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pipe = load_pipeline(args.pipeline).to(device).eval()
    image = torch.rand(1, 3, args.height, args.width, generator=torch.Generator().manual_seed(0))
    kernel = torch.full((1, 1, 5, 5), 1 / 25)
    tile = args.tile if args.tile > 0 else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = deblur_image(pipe, image, kernel=kernel, tile=tile, overlap=args.overlap, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    assert out.shape == image.shape
    return {
        "tile": tile,
        "seconds": round(dt, 3),
        "megapixels_per_s": round(args.height * args.width / 1e6 / dt, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_cuda_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({args.threads} threads)",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pipeline", default=str(ROOT / "pipelines" / "tiny.yaml"))
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--tile", type=int, default=512, help="tile size; 0 = compare only untiled")
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-untiled", action="store_true", help="do not run the untiled reference (memory-hungry)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_one(args)))
        return
    base = [sys.executable, __file__, "--child", "--pipeline", args.pipeline, "--height", str(args.height),
            "--width", str(args.width), "--overlap", str(args.overlap), "--device", args.device, "--threads", str(args.threads)]
    tiles = [args.tile] + ([] if args.skip_untiled else [0])
    print(f"image {args.width}×{args.height}, pipeline {args.pipeline}")
    for t in tiles:
        res = subprocess.run([*base, "--tile", str(t)], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"tile={t or 'none'}: failed\n{res.stderr[-2000:]}")
            continue
        print(res.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()

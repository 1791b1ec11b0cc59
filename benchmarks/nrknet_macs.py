"""NRKNet parameter counts and MACs (specs/nrknet.md §5–6), without a full-resolution pass.

The Γ estimator runs on the ``meta`` device (shapes only) with forward hooks on every conv;
the RKR operator is counted analytically. Prints both MAC conventions:

* conventional: out-pixels × C_in/groups × k² × C_out (ConvTranspose: in-pixels × …);
* thop: out-numel × C_in/groups × k² for every conv module (over-counts ConvTranspose2d by
  stride² = 4); the official script prints thop / 2 — the paper's 553 G.

Usage::

    python benchmarks/nrknet_macs.py [--height 1280 --width 720]
"""

from __future__ import annotations

import argparse

import torch

import restorekit
from restorekit.plugins.nrknet.counting import count_macs, parameter_breakdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--height", type=int, default=1280, help="input height (official thop call: 1280)")
    parser.add_argument("--width", type=int, default=720, help="input width (official thop call: 720)")
    args = parser.parse_args()

    print("parameters")
    for form, j in (("reference", 21), ("reference", 20), ("paper", 20)):
        with torch.device("meta"):
            est = restorekit.create("nrknet.coefficients", form=form, num_kernels=j)
            op = restorekit.create("nrknet.rkr", form=form, num_kernels=j)
        parts = parameter_breakdown(est, op)
        detail = ", ".join(f"{k} {v:,}" for k, v in parts.items() if k != "total")
        print(f"  {form:9s} J={j}: {parts['total']:,}  ({detail})")

    with torch.device("meta"):
        est = restorekit.create("nrknet.coefficients")
    report = count_macs(est, args.height, args.width)
    names = ["full", "1/2", "1/4"]
    print(f"MACs at {args.height}x{args.width} (reference form, J = 21, one inference pass)")
    for name, macs in zip(names, report.per_scale_conventional):
        print(f"  conventional, {name:4s} scale: {macs / 1e9:8.1f} G")
    print(f"  conventional total:        {report.conventional / 1e9:8.1f} G   (spec ≈ 867.7 G)")
    print(f"  thop convention:           {report.thop / 1e9:8.1f} G   thop/2 = {report.thop_half / 1e9:.1f} G (spec ≈ 552.7 G)")
    print(f"  thop element-wise (BN, pool, not included): {report.thop_elementwise / 1e9:.3f} G")
    print(f"  RKR recursion convs:       {report.rkr / 1e9:8.3f} G   (spec ≈ 0.59 G)")


if __name__ == "__main__":
    main()

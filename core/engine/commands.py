"""``restorekit train FILE [-o key=value …] [--resume auto|PATH] [--out DIR]``.

Works unchanged under ``torchrun --nproc-per-node N -m restorekit train …`` (DDP; rank 0
logs and writes checkpoints).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="pipeline YAML with model, losses, data and train sections")
    p.add_argument(
        "-o", "--override", action="append", default=[], metavar="KEY=VALUE",
        help="dotted override, e.g. train.lr=1e-4 (repeatable)",
    )
    p.add_argument("--out", default=None, help="run directory (default: runs/<config file name>)")
    p.add_argument(
        "--resume", default=None, metavar="auto|PATH",
        help="'auto' continues from the newest complete checkpoint in --out (starts fresh if none); "
        "or a checkpoint directory",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument(
        "--stop-after", type=int, default=None, metavar="N",
        help="stop with a checkpoint once global iteration N is reached (continue later with --resume auto)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to TensorBoard)")


def _run(args: argparse.Namespace) -> int:
    from .trainer import train

    out = args.out or str(Path("runs") / Path(args.file).stem)
    summary: dict[str, Any] = train(
        args.file,
        overrides=args.override,
        out_dir=out,
        resume=args.resume,
        device=args.device,
        stop_after=args.stop_after,
        progress=not args.no_progress,
    )
    val = ", ".join(f"{k} {v:.3f}" for k, v in summary["val"].items())
    loss = f"{summary['loss']:.4g}" if summary["loss"] is not None else "n/a"
    if summary["rank"] == 0:
        print(f"trained to iteration {summary['iteration']}: loss {loss}" + (f"; validation {val}" if val else "") + f"; run directory {out}")
    return 0


def add_commands(cli: Any) -> None:
    """Register ``train`` with the command registry of :mod:`restorekit.cli`."""
    cli.add("train", "train a pipeline from its YAML (single process or under torchrun)", _configure, _run)

"""``restorekit train FILE [-o key=value …] [--resume auto|PATH] [--out DIR] [--overwrite]``.

A run folder that already holds files is used only with ``--resume`` (continue it) or
``--overwrite`` (replace the previous run's own files); otherwise the command stops and says
so, so two runs never mix their checkpoints and metrics.

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
        help="'auto' continues from the newest checkpoint in --out whose files verify (starts fresh if none; "
        "newer damaged ones are skipped and named); or a checkpoint directory",
    )
    p.add_argument(
        "--overwrite", action="store_true",
        help="replace the previous run in --out (its checkpoints, metrics, TensorBoard logs, config and weights); "
        "without it a non-empty --out needs --resume",
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
        overwrite=args.overwrite,
    )
    val = ", ".join(f"{k} {v:.3f}" for k, v in summary["val"].items())
    loss = f"{summary['loss']:.4g}" if summary["loss"] is not None else "n/a"
    if summary["rank"] == 0:
        print(f"trained to iteration {summary['iteration']}: loss {loss}" + (f"; validation {val}" if val else "") + f"; run directory {out}")
    return 0


def add_commands(cli: Any) -> None:
    """Register ``train`` with the command registry of :mod:`restorekit.cli`."""
    cli.add("train", "train a pipeline from its YAML (single process or under torchrun)", _configure, _run)

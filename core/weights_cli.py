"""``restorekit weights``: list, show and convert weights files.

* ``restorekit weights [--json]`` — the bundled weights of every plugin with their task,
  validation PSNR, steps and size;
* ``restorekit weights show NAME|FILE`` — one model card (what it is, how it was trained,
  the command that reproduces it, and its pipeline);
* ``restorekit weights convert IN.pth -o OUT.safetensors [--key params]`` — a PyTorch
  checkpoint (read with ``weights_only=True``, so no code runs) to safetensors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .errors import InputError


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["show", "convert"], help="'show NAME|FILE' or 'convert IN.pth -o OUT'")
    p.add_argument("name", nargs="?", help="bundled weights name or a file")
    p.add_argument("-o", "--out", default=None, help="(convert) output .safetensors file")
    p.add_argument("--key", default=None, help="(convert) take the state dict from this key of the checkpoint (e.g. params, state_dict)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _fmt_psnr(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}"


def _run(args: argparse.Namespace) -> int:
    from .weights import entry_for, list_weights, read_card, resolve_weights_path

    if args.action == "convert":
        return _convert(args)
    if args.action == "show":
        if not args.name:
            raise InputError("usage: restorekit weights show NAME|FILE")
        path = resolve_weights_path(args.name)
        card = entry_for(args.name).card if not Path(args.name).exists() else read_card(path)
        if card is None:
            raise InputError(f"{path} carries no model card (it was not written by restorekit.save_weights)")
        if args.json:
            print(json.dumps(card.as_dict(), indent=2))
        else:
            sys.stdout.write(card.markdown())
        return 0
    rows = list_weights()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no bundled weights are installed")
        return 0
    table = [("name", "task", "val PSNR", "blurry", "steps", "size", "path")]
    for r in rows:
        table.append((
            r["name"], r["task"] or "-", _fmt_psnr(r["val_psnr"]), _fmt_psnr(r["val_input_psnr"]),
            str(r["steps"] or "-"), f"{r['size_bytes'] / 1e6:.1f} MB", r["path"],
        ))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for j, row in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    return 0


def _convert(args: argparse.Namespace) -> int:
    import torch

    from .weights import save_weights

    if not args.name or not args.out:
        raise InputError("usage: restorekit weights convert IN.pth -o OUT.safetensors [--key params]")
    src = Path(args.name)
    if not src.is_file():
        raise InputError(f"checkpoint '{src}' does not exist")
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for files that need arbitrary code
        raise InputError(f"{src}: cannot be read as a tensors-only checkpoint (weights_only=True refused it: {exc})") from exc
    if args.key is not None:
        if not isinstance(obj, dict) or args.key not in obj:
            keys = sorted(obj) if isinstance(obj, dict) else []
            raise InputError(f"{src}: no key '{args.key}' at the top level (it has: {', '.join(map(str, keys[:10])) or 'no keys'})")
        obj = obj[args.key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        keys = sorted(obj) if isinstance(obj, dict) else []
        raise InputError(
            f"{src}: not a flat state dict of tensors; pick the state dict with --key (top-level keys: "
            f"{', '.join(map(str, keys[:10])) or 'none'})"
        )
    out = save_weights({str(k): v for k, v in obj.items()}, args.out)
    print(f"{src} -> {out} ({len(obj)} tensors)")
    return 0


def _configure_pipelines(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default=None, help="only this task (nonblind, motion, defocus, motion+defocus)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run_pipelines(args: argparse.Namespace) -> int:
    from .bundled import bundled_pipelines, default_pipeline
    from .errors import RestorekitError

    entries = [e for e in bundled_pipelines().values() if args.task is None or e.task == args.task]
    defaults = {}
    for family in ("blind", "nonblind"):
        try:
            defaults[family] = default_pipeline(family).name
        except RestorekitError:
            pass
    if args.json:
        print(json.dumps({"defaults": defaults, "pipelines": [e.as_dict() for e in entries]}, indent=2))
        return 0
    table = [("name", "task", "weights", "held-out PSNR", "summary")]
    inputs: dict[str, float] = {}
    for e in entries:
        m = e.metrics
        if e.blind and e.score("blind") is not None:
            cell = f"{m['heldout_motion_psnr']:.2f} / {m['heldout_defocus_psnr']:.2f}"
        else:
            cell = _fmt_psnr(e.score("nonblind"))
        for k in ("motion", "defocus", "nonblind"):
            if f"heldout_{k}_input_psnr" in m:
                inputs.setdefault(k, float(m[f"heldout_{k}_input_psnr"]))
        mark = " (default)" if e.name in defaults.values() else ""
        table.append((e.name + mark, e.task or "-", "yes" if e.weights else "-", cell, e.summary or e.label))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for j, row in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    blurry = ", ".join(f"{k} {v:.2f}" for k, v in inputs.items())
    print("\nheld-out PSNR (dB, Set3C, benchmarks/bundled_models.py): blind = camera shake / defocus; non-blind = camera "
          f"shake with its PSF{f' (blurry inputs: {blurry})' if blurry else ''}. The blind default has the best mean of the "
          "two among the pipelines that beat the blurry input on both. Use one with `restorekit deblur IN -o OUT --pipeline NAME`.")
    return 0


def add_commands(cli: Any) -> None:
    """Register ``weights`` and ``pipelines`` (listed in ``restorekit.cli.BUILTIN_COMMAND_MODULES``)."""
    cli.add("weights", "list bundled weights, show a model card, or convert a .pth to safetensors", _configure, _run)
    cli.add("pipelines", "list the bundled pipelines (YAML files and plugins' trained models) and the deblur defaults",
            _configure_pipelines, _run_pipelines)

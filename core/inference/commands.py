"""The ``restorekit deblur`` and ``restorekit eval`` commands.

``restorekit deblur INPUT… -o OUT --pipeline FILE [--weights W] [--kernel PSF] [--tile N --overlap M]``
restores images (files or folders) of any size. ``restorekit eval FILE --weights W [--protocol P]``
runs a metric protocol over the config's ``data.test`` (or ``data.val``) dataset and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import ConfigError, InputError


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--device: '{name}' is not a device (use auto, cpu, cuda, cuda:1 …)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was requested but CUDA is not available; use --device cpu")
    return dev


def _build_pipeline(config: str | None, overrides: Sequence[str], weights: str | None, device: torch.device) -> Any:
    """The pipeline of ``--pipeline`` (a YAML path, or the name of bundled weights, whose model
    card holds the pipeline) with ``--weights`` (or the bundled file) loaded by
    :func:`restorekit.load_weights`."""
    from ..pipeline import load_pipeline
    from ..weights import bundled_weights, load_weights, read_card, resolve_weights_path

    bundled = bundled_weights()
    if config is not None and config in bundled and not Path(config).exists():
        entry = bundled[config]
        if entry.card is None:
            raise ConfigError(f"bundled weights '{config}' carry no model card, so their pipeline is unknown; pass --pipeline FILE")
        pipeline = load_pipeline(entry.card.pipeline, overrides=list(overrides) or None)
        load_weights(pipeline, weights or entry.path)
        print(f"pipeline: {config} (bundled), weights: {weights or entry.path}", file=sys.stderr)
        return pipeline.to(device).eval()
    if config is None:
        card = read_card(resolve_weights_path(weights)) if weights else None
        if card is None:
            raise ConfigError(
                "no pipeline given: pass --pipeline FILE (a pipeline YAML, e.g. pipelines/tiny.yaml) or the name of "
                "bundled weights (`restorekit weights` lists them)"
            )
        pipeline = load_pipeline(card.pipeline, overrides=list(overrides) or None)
        load_weights(pipeline, weights)
        return pipeline.to(device).eval()
    pipeline = load_pipeline(config, overrides=list(overrides) or None)
    if weights:
        load_weights(pipeline, weights)
    else:
        n = sum(p.numel() for p in pipeline.parameters())
        if n:
            print(
                f"warning: the pipeline has {n:,} parameters but no --weights were given; it runs with its "
                f"initial (untrained) weights",
                file=sys.stderr,
            )
    return pipeline.to(device).eval()


def _inputs(paths: Sequence[str]) -> list[tuple[Path, Path]]:
    """Expand INPUT arguments to (file, path relative to its input root) pairs."""
    from .imageio import IMAGE_SUFFIXES, is_image_file

    out: list[tuple[Path, Path]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            if not files:
                raise InputError(f"input folder '{p}' has no images ({', '.join(IMAGE_SUFFIXES)})")
            out += [(f, f.relative_to(p)) for f in files]
        elif p.is_file():
            out.append((p, Path(p.name)))
        else:
            raise InputError(f"input '{p}' does not exist")
    return out


# ---------------------------------------------------------------------------------------
# deblur
# ---------------------------------------------------------------------------------------


def configure_deblur(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, help="output folder (or an image file name for a single input)")
    p.add_argument("--pipeline", default=None, help="pipeline YAML")
    p.add_argument("--weights", default=None, help="weights (.safetensors, or a checkpoint folder)")
    p.add_argument("--kernel", default=None, help="PSF file (.npy/.npz/.mat/.png) for non-blind pipelines")
    p.add_argument("--normalize-kernel", action="store_true", help="rescale an array kernel that does not sum to 1")
    p.add_argument("--tile", type=int, default=None, help="process in tiles of N×N pixels (large images)")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--bits", choices=["same", "8", "16"], default="same", help="output bit depth (default: as the input)")
    p.add_argument(
        "--channels", type=int, choices=[1, 3], default=None,
        help="channels the pipeline expects (gray inputs are repeated to RGB, RGB converted to luma); "
        "the output keeps the input's channels",
    )
    p.add_argument("-O", "--override", action="append", default=[], metavar="KEY=VALUE", help="dotted config override (repeatable)")


def run_deblur(args: argparse.Namespace) -> int:
    from .deblur import deblur_image, load_psf
    from .imageio import convert_channels, read_image_with_depth, write_image

    device = _device(args.device)
    pipeline = _build_pipeline(args.pipeline, args.override, args.weights, device)
    kernel = load_psf(args.kernel, normalize=args.normalize_kernel) if args.kernel else None
    items = _inputs(args.inputs)
    out = Path(args.out)
    single_file = len(items) == 1 and out.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff")
    for src, rel in items:
        image, bits = read_image_with_depth(src)
        model_input = convert_channels(image, args.channels) if args.channels else image
        t0 = time.perf_counter()
        restored = deblur_image(pipeline, model_input[None], kernel=kernel, tile=args.tile, overlap=args.overlap, device=device)
        dt = time.perf_counter() - t0
        if restored.shape[1] != image.shape[0]:
            restored = convert_channels(restored[0], image.shape[0])[None]
        out_bits = bits if args.bits == "same" else int(args.bits)
        out_bits = 16 if out_bits > 8 else 8
        target = out if single_file else out / rel
        if target.suffix.lower() in (".jpg", ".jpeg") and out_bits == 16:
            target = target.with_suffix(".png")
        if target.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
            target = target.with_suffix(".png")
        write_image(target, restored[0], bits=out_bits)
        print(f"{src} -> {target}  ({image.shape[-1]}×{image.shape[-2]}, {dt:.2f} s)")
    return 0


# ---------------------------------------------------------------------------------------
# eval
# ---------------------------------------------------------------------------------------


def configure_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="pipeline YAML with data.test (or data.val) and an optional eval: section")
    p.add_argument("--weights", default=None, help="weights (.safetensors, or a checkpoint folder)")
    p.add_argument("--protocol", default=None, help="metric protocol (overrides eval.protocol)")
    p.add_argument("--split", choices=["test", "val"], default=None, help="dataset to evaluate (overrides eval.split)")
    p.add_argument("--tile", type=int, default=None, help="tile size for large images")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--save", default=None, metavar="DIR", help="also write the restored images to DIR")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE", help="dotted config override (repeatable)")


def evaluate(
    config: dict[str, Any],
    pipeline: Any,
    protocol: str | None = None,
    split: str | None = None,
    tile: int | None = None,
    overlap: int = 32,
    device: torch.device | str = "cpu",
    save: str | Path | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Run ``pipeline`` over the config's evaluation dataset; per-image rows and the means."""
    from ..data import build_dataset
    from ..metrics import compute_metrics, protocol_from_settings
    from .deblur import deblur_image
    from .imageio import write_image

    settings = dict(config.get("eval") or {})
    if protocol:
        settings["protocol"] = protocol
    proto = protocol_from_settings(settings)
    data = config.get("data") or {}
    chosen = split or settings.get("split") or "test"
    if data.get(chosen) is None and chosen == "test" and data.get("val") is not None:
        chosen = "val"
    dataset = build_dataset(data, chosen, seed=0)
    lpips = None
    if "lpips" in proto.metrics:
        from ..metrics import load_lpips

        lpips = load_lpips(settings).to(device)
    rows: list[dict[str, Any]] = []
    for i in range(len(dataset)):
        sample = dataset[i]
        kernel = sample.get("kernel")
        restored = deblur_image(
            pipeline, sample["blurry"][None], kernel=kernel[None] if kernel is not None else None,
            tile=tile, overlap=overlap, device=device,
        )
        values = compute_metrics(restored, sample["sharp"][None], proto, lpips=lpips)
        rows.append({"name": sample.get("name", str(i)), **{k: float(v[0]) for k, v in values.items()}})
        if save:
            write_image(Path(save) / f"{str(sample.get('name', i)).replace('#', '_')}.png", restored[0])
    means = {k: sum(r[k] for r in rows) / len(rows) for k in proto.metrics} if rows else {}
    return rows, means


def run_eval(args: argparse.Namespace) -> int:
    from ..config import resolve_config
    from ..metrics import protocol_from_settings

    device = _device(args.device)
    config = resolve_config(args.file, args.override or None)
    pipeline = _build_pipeline(args.file, args.override, args.weights, device)
    rows, means = evaluate(
        config, pipeline, protocol=args.protocol, split=args.split, tile=args.tile,
        overlap=args.overlap, device=device, save=args.save,
    )
    settings = dict(config.get("eval") or {})
    if args.protocol:
        settings["protocol"] = args.protocol
    proto = protocol_from_settings(settings)
    if args.json:
        print(json.dumps({"protocol": proto.name, "images": rows, "mean": means}, indent=2))
        return 0
    metrics = list(proto.metrics)
    table = [["image", *metrics]]
    for r in rows:
        table.append([str(r["name"]), *(_fmt(r[m]) for m in metrics)])
    table.append([f"mean ({len(rows)} images)", *(_fmt(means[m]) for m in metrics)])
    print(f"protocol: {proto.name} (color {proto.color}, border {proto.border}, uint8 {proto.uint8}, data range {proto.data_range:g})")
    _print_table(table)
    return 0


def _fmt(v: float) -> str:
    return "inf" if v == float("inf") else f"{v:.4f}"


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
        if j == 0 or j == len(rows) - 2:
            sys.stdout.write("  ".join("-" * w for w in widths) + "\n")


def add_commands(cli: Any) -> None:
    """Register ``deblur`` and ``eval`` (listed in ``restorekit.cli.BUILTIN_COMMAND_MODULES``)."""
    cli.add("deblur", "restore images (any size; tiled with --tile) with a pipeline", configure_deblur, run_deblur)
    cli.add("eval", "evaluate a pipeline on its test/val dataset under a metric protocol", configure_eval, run_eval)

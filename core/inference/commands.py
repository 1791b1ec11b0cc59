"""The ``restorekit deblur`` and ``restorekit eval`` commands.

``restorekit deblur INPUT… -o OUT [--pipeline FILE|NAME] [--weights W] [--kernel PSF] [--tile N --overlap M]``
restores images (files or folders) of any size. ``restorekit eval FILE --weights W [--protocol P]``
runs a metric protocol over the config's ``data.test`` (or ``data.val``) dataset and prints a table.

Nothing is lost: ``deblur`` refuses an output that is (or lies inside) one of its inputs,
gives two inputs with the same name unique output names (and says so), processes every
readable image of a batch and lists the failures at the end (exit status 1 if any), and
stops at a full disk saying what was written. Every output path stays inside its output
folder (:func:`restorekit.inference.paths.safe_join`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import ConfigError, InputError, OutputError, RestorekitError, is_disk_full, os_error_text

PAD_CHOICES = ("bottom-right", "center")
"""``--pad``: where an image is padded to the pipeline's size multiple (see
:func:`restorekit.inference.deblur.pad_image`)."""


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


AUTO_TILE_PIXELS = 2_000_000
"""Images with more pixels than this are tiled automatically when ``--tile`` is not given."""
AUTO_TILE = 512


def _auto_tile(image: torch.Tensor, pipeline: Any, requested: int | None) -> int | None:
    """``--tile``, or :data:`AUTO_TILE` (rounded up to the size multiple) for large images."""
    if requested is not None:
        return requested
    if image.shape[-1] * image.shape[-2] <= AUTO_TILE_PIXELS:
        return None
    m = int(getattr(pipeline, "size_multiple", 1) or 1)
    return -(-AUTO_TILE // m) * m


def _pipeline_channels(pipeline: Any) -> int | None:
    """The image channels the pipeline's first network expects (``in_channels`` of its encoder,
    blur estimators, then decoder, the first that is 1 or 3), or ``None`` (channelwise solvers)."""
    parts = [getattr(pipeline, "encoder", None), *list(getattr(pipeline, "blur_estimators", None) or []),
             getattr(pipeline, "decoder", None)]
    for part in parts:
        c = getattr(part, "in_channels", None)
        if isinstance(c, int) and c in (1, 3):
            return c
    return None


def _build_pipeline(config: str | None, overrides: Sequence[str], weights: str | None, device: torch.device, kernel_given: bool = False) -> Any:
    """See :func:`restorekit.inference.resolve.build_for_command`."""
    from .resolve import build_for_command

    return build_for_command(config, overrides, weights, device, kernel_given=kernel_given)


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
    p.add_argument(
        "--pipeline", default=None,
        help="a pipeline YAML or a bundled name (`restorekit pipelines`); default: the bundled blind pipeline with the "
        "best measured held-out PSNR, or the best non-blind one when --kernel is given",
    )
    p.add_argument("--weights", default=None, help="weights (.safetensors, or a checkpoint folder)")
    p.add_argument("--kernel", default=None, help="PSF file (.npy/.npz/.mat/.png) for non-blind pipelines")
    p.add_argument("--normalize-kernel", action="store_true", help="rescale an array kernel that does not sum to 1")
    p.add_argument(
        "--force-kernel", action="store_true",
        help="use the --kernel file even if it looks like a display picture of a PSF (colour, enlarged with "
        "nearest-neighbour, on a grey/white background) or is over 15 px and larger than a quarter of the image; by default such "
        "files are refused (pass the .npy PSF that `restorekit demo` writes beside each preview)",
    )
    p.add_argument(
        "--tile", type=int, default=None,
        help=f"process in tiles of N×N pixels (default: whole images up to {AUTO_TILE_PIXELS // 10**6} MP, larger ones in tiles of {AUTO_TILE})",
    )
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--bits", choices=["same", "8", "16"], default="same", help="output bit depth (default: as the input)")
    p.add_argument(
        "--channels", type=int, choices=[1, 3], default=None,
        help="channels the pipeline expects (gray inputs are repeated to RGB, RGB converted to luma); "
        "the output keeps the input's channels",
    )
    p.add_argument("-O", "--override", action="append", default=[], metavar="KEY=VALUE", help="dotted config override (repeatable)")
    p.add_argument("--pad", choices=list(PAD_CHOICES), default="bottom-right",
                   help="where to pad an image to the pipeline's size multiple: bottom-right (default) or center "
                        "(the official NRKNet test)")
    p.add_argument("--repair-nonfinite", action="store_true",
                   help="fill NaN/Inf samples of float images from their neighbours instead of refusing the file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar while tiling large images")


@dataclass
class _Job:
    src: Path
    target: Path
    renamed_from: Path | None = None


def _plan_outputs(items: list[tuple[Path, Path]], inputs: Sequence[str], out: Path) -> tuple[list[_Job], bool]:
    """Where each input goes, refusing any output that is, or lies inside, an input; two
    inputs with the same output name get ``name_1``, ``name_2`` … Nothing is created here."""
    from .imageio import WRITE_SUFFIXES
    from .paths import contains, safe_join

    single_file = len(items) == 1 and out.suffix.lower() in WRITE_SUFFIXES and not out.is_dir()
    roots = [Path(r) for r in inputs]
    for root in roots:
        if root.is_dir() and contains(root, out):
            raise InputError(
                f"-o {out} is {'the input folder' if out.resolve() == root.resolve() else 'inside the input folder'} '{root}'; "
                f"outputs could overwrite or be mixed with the inputs — give an output folder outside it"
            )
    sources = {src.resolve(): src for src, _ in items}
    jobs: list[_Job] = []
    used: dict[str, Path] = {}
    for src, rel in items:
        if single_file:
            target = out
        else:
            safe_join(out, rel)  # refuses a name that would leave the output folder
            target = out / rel
        if target.suffix.lower() not in WRITE_SUFFIXES:
            target = target.with_suffix(".png")
        if target.resolve() in sources:
            raise InputError(
                f"-o {out}: the output {target} would overwrite the input {sources[target.resolve()]}; give another output folder"
            )
        key = str(target).casefold()
        renamed = None
        if key in used:
            n = 1
            while True:
                candidate = target.with_name(f"{target.stem}_{n}{target.suffix}")
                if str(candidate).casefold() not in used and candidate.resolve() not in sources:
                    break
                n += 1
            renamed, target = used[key], candidate
            key = str(target).casefold()
        used[key] = src
        jobs.append(_Job(src, target, renamed))
    return jobs, single_file


def run_deblur(args: argparse.Namespace) -> int:
    from .deblur import check_kernel_fits, deblur_image, load_psf
    from .imageio import convert_channels, read_image_with_depth, write_image
    from .paths import check_output_dir, prepare_output_dir

    device = _device(args.device)
    items = _inputs(args.inputs)
    out = Path(args.out)
    if out.exists() and not out.is_dir() and not (len(items) == 1 and _image_name(out)):
        raise InputError(f"-o {out}: is a file, not a folder; for {len(items)} images give an output folder")
    jobs, single_file = _plan_outputs(items, args.inputs, out)
    folder = out.parent if single_file else out
    check_output_dir(folder)  # before any work: a file in the way is a mistake to report at once
    pipeline = _build_pipeline(args.pipeline, args.override, args.weights, device, kernel_given=bool(args.kernel))
    force_kernel = bool(getattr(args, "force_kernel", False))
    kernel = load_psf(args.kernel, normalize=args.normalize_kernel, force=force_kernel) if args.kernel else None
    expected = None if args.channels else _pipeline_channels(pipeline)
    prepare_output_dir(folder)
    for job in jobs:
        if job.renamed_from is not None:
            print(f"note: {job.src} has the same name as {job.renamed_from}; writing it as {job.target.name}", file=sys.stderr)
    failures: list[tuple[Path, str]] = []
    written: list[Path] = []
    for job in jobs:
        try:
            image, bits = read_image_with_depth(job.src, nonfinite="repair" if args.repair_nonfinite else "error")
            channels = args.channels or expected
            model_input = convert_channels(image, channels) if channels else image
            if channels and channels != image.shape[0] and not args.channels:
                print(f"note: {job.src} has {image.shape[0]} channel(s) and the pipeline expects {channels}; restoring it "
                      f"{'as RGB (grey repeated)' if channels == 3 else 'as luma'} and writing {image.shape[0]} channel(s) "
                      f"(set --channels to change)", file=sys.stderr)
            if kernel is not None and not force_kernel:
                check_kernel_fits(kernel.shape, model_input.shape, args.kernel)
            t0 = time.perf_counter()
            tile = _auto_tile(model_input, pipeline, args.tile)
            if tile is not None and args.tile is None:
                print(f"note: {job.src} is {model_input.shape[-1]}×{model_input.shape[-2]}; restoring it in tiles of {tile} (set --tile to change)", file=sys.stderr)
            restored = deblur_image(
                pipeline, model_input[None], kernel=kernel, tile=tile, overlap=args.overlap, device=device,
                pad=args.pad, progress=False if args.no_progress else job.src.name,
            )
            dt = time.perf_counter() - t0
            if restored.shape[1] != image.shape[0]:
                restored = convert_channels(restored[0], image.shape[0])[None]
            out_bits = bits if args.bits == "same" else int(args.bits)
            out_bits = 16 if out_bits > 8 else 8
            target = job.target
            if target.suffix.lower() in (".jpg", ".jpeg") and out_bits == 16:
                target = target.with_suffix(".png")
            write_image(target, restored[0], bits=out_bits)
        except OSError as exc:
            if is_disk_full(exc):
                kept = ", ".join(str(p) for p in written[:3]) + (" …" if len(written) > 3 else "")
                raise OutputError(
                    f"{os_error_text(exc, f'writing {job.target}')}; kept: {len(written)} of {len(jobs)} images written"
                    + (f" ({kept})" if written else "") + "; the partial file was removed"
                ) from exc
            failures.append((job.src, os_error_text(exc)))
            continue
        except (RestorekitError, MemoryError) as exc:
            failures.append((job.src, " ".join(str(exc).split())))
            continue
        except RuntimeError as exc:
            if "out of memory" not in str(exc).lower():
                raise
            failures.append((job.src, f"out of memory ({' '.join(str(exc).split())[:160]}); try --tile"))
            continue
        written.append(target)
        print(f"{job.src} -> {target}  ({image.shape[-1]}×{image.shape[-2]}, {dt:.2f} s)")
    if failures:
        if len(jobs) == 1:
            src, why = failures[0]
            raise InputError(why if str(src) in why else f"{src}: {why}")
        print(f"{len(failures)} of {len(jobs)} images failed:", file=sys.stderr)
        for src, why in failures:
            print(f"  {src}: {why}", file=sys.stderr)
        raise InputError(
            f"{len(failures)} of {len(jobs)} images failed (listed above); the other {len(written)} were written to {out}"
        )
    return 0


def _image_name(path: Path) -> bool:
    from .imageio import WRITE_SUFFIXES

    return path.suffix.lower() in WRITE_SUFFIXES


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
    p.add_argument("--pad", choices=list(PAD_CHOICES), default="bottom-right",
                   help="where to pad to the size multiple: bottom-right (default) or center (the official NRKNet test)")
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
    pad: str = "bottom-right",
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Run ``pipeline`` over the config's evaluation dataset; per-image rows and the means.

    With ``save``, each restored image is written to ``save/<sample name>.png``; a sample
    name that would leave ``save`` (``..``, an absolute path, a symbolic link) is refused.

    Raises:
        InputError: a sample whose input or restored image is not finite (named), a name
            that leaves ``save``.
    """
    from ..data import build_dataset
    from ..metrics import compute_metrics, protocol_from_settings
    from .deblur import deblur_image
    from .imageio import write_image
    from .paths import prepare_output_dir, safe_join

    if save:
        prepare_output_dir(save, "--save")
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
        name = str(sample.get("name", i))
        kernel = sample.get("kernel")
        target = safe_join(save, f"{name.replace('#', '_')}.png", what=f"sample '{name}': output") if save else None
        try:
            restored = deblur_image(
                pipeline, sample["blurry"][None], kernel=kernel[None] if kernel is not None else None,
                tile=tile, overlap=overlap, device=device, pad=pad,
            )
        except InputError as exc:
            raise InputError(f"sample '{name}': {exc}") from exc
        values = compute_metrics(restored, sample["sharp"][None], proto, lpips=lpips)
        rows.append({"name": name, **{k: float(v[0]) for k, v in values.items()}})
        if target is not None:
            try:
                write_image(target, restored[0])
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                raise OutputError(
                    f"{os_error_text(exc, f'writing {target}')}; kept: {i} of {len(dataset)} restored images in {save}; "
                    f"the partial file was removed"
                ) from exc
    means = {k: sum(r[k] for r in rows) / len(rows) for k in proto.metrics} if rows else {}
    return rows, means


def run_eval(args: argparse.Namespace) -> int:
    from ..config import resolve_config
    from ..metrics import protocol_from_settings

    device = _device(args.device)
    config = resolve_config(args.file, args.override or None)
    pipeline = _build_pipeline(args.file, args.override, args.weights, device)
    if args.save:
        from .paths import prepare_output_dir

        prepare_output_dir(args.save, "--save")
    rows, means = evaluate(
        config, pipeline, protocol=args.protocol, split=args.split, tile=args.tile,
        overlap=args.overlap, device=device, save=args.save, pad=args.pad,
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
    cli.add("deblur", "restore images of any size: blind by default, non-blind with --kernel PSF, or any --pipeline", configure_deblur, run_deblur)
    cli.add("eval", "evaluate a pipeline on its test/val dataset under a metric protocol", configure_eval, run_eval)

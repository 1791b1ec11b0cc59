"""``restorekit demo``: every installed paper on the bundled photographs, offline, in about a minute.

1. Collects the demo rows that plugins register (``register_pipelines`` with ``demo=True``):
   non-blind solvers (the PSF is known) and blind models (bundled weights).
2. Degrades the bundled photographs (:mod:`restorekit.data.samples`, set ``demo``) three ways
   (:mod:`.scenes`): camera shake with a known PSF, blind camera shake, blind spatially varying
   defocus; every true PSF is written as ``.npy`` with a ``*_psf_preview.png`` to look at.
3. Restores each scene with every applicable row, measures PSNR/SSIM (protocol
   ``set3c_levin``: 8-bit RGB, border 0) and the time, and keeps for the figure only the images
   that beat their blurry input (the table marks the others).
4. Writes ``figure.png`` (titled, labelled; blur maps and blur fields of blind models shown as
   pictures), ``results.md`` and ``results.csv``, and every image, all atomically.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from ..errors import ConfigError, InputError
from .entries import DemoEntry, collect_entries
from .figure import Panel, Section, atomic_write, colormap, figure_png, png_bytes, to_uint8
from .scenes import DEMO_DEGRADATIONS, Scene, blind_scene, nonblind_scene, save_psf

__all__ = ["DemoRow", "configure", "run", "run_demo"]

KIND_TITLES = {"nonblind": "camera shake, PSF known", "motion": "camera shake, blind", "defocus": "defocus (spatially varying), blind"}


@dataclass
class DemoRow:
    """One cell of the results: a method on a scene."""

    scene: str
    kind: str
    method: str
    paper: str
    psnr: float
    ssim: float
    blurry_psnr: float
    seconds: float

    @property
    def shown(self) -> bool:
        """The figure shows a restored image only when it beats its blurry input."""
        return self.method == "blurry" or self.psnr > self.blurry_psnr


class _Runner:
    """A built pipeline of one demo row, callable on a scene."""

    def __init__(self, entry: DemoEntry) -> None:
        self.entry = entry
        self.pipeline = entry.build()

    @torch.no_grad()
    def __call__(self, scene: Scene) -> tuple[Tensor, Any]:
        from ..inference.deblur import pad_to_multiple

        batch: dict[str, Tensor] = {}
        if not self.entry.blind:
            if scene.kernel is None:
                raise InputError(f"demo row {self.entry.name} needs a PSF but scene {scene.name} has none")
            batch["kernel"] = scene.kernel
        x, (h, w) = pad_to_multiple(scene.blurry, self.pipeline.size_multiple)
        out = self.pipeline({"blurry": x, **batch})
        return out.restored[..., :h, :w].clamp(0, 1), out


def _applies(entry: DemoEntry, kind: str) -> bool:
    """A row runs on the scenes of its task: non-blind rows on the known-PSF scenes, blind rows
    on the blur types they were trained for (``motion``, ``defocus`` or both)."""
    if kind == "nonblind":
        return not entry.blind
    return entry.blind and kind in str(entry.task).split("+")


def _blur_field(output: Any, image: Tensor) -> Tensor | None:
    """Where the pipeline's operator, bound to its estimate, blurs: ``|n − A n|`` on white
    noise ``n``, averaged over 15×15 windows and the channels (``None`` without an operator)."""
    op = getattr(output, "operator", None)
    if op is None or output.estimate is None:
        return None
    try:
        bound = op.bind_estimate(output.estimate)
        gen = torch.Generator().manual_seed(0)
        n = torch.randn(image.shape, generator=gen, dtype=image.dtype)
        r = (n - bound.A_linear(n)).abs().mean(dim=1, keepdim=True)
    except Exception:  # noqa: BLE001 - a visualisation must never break the demo
        return None
    return torch.nn.functional.avg_pool2d(r, 15, stride=1, padding=7, count_include_pad=False)


def _metrics(restored: Tensor, sharp: Tensor) -> tuple[float, float]:
    from ..metrics import compute_metrics

    m = compute_metrics(restored.clamp(0, 1), sharp, "set3c_levin")
    return float(m["psnr"][0]), float(m["ssim"][0])


def _markdown(rows: list[DemoRow], cpu_seconds: float, wall_seconds: float) -> str:
    lines = [
        "# restorekit demo",
        "",
        "PSNR (dB) / SSIM on 8-bit RGB, border 0 (protocol `set3c_levin`), and seconds per image. "
        "Inputs: bundled photographs; camera shake (Boracchi–Foi trajectories; blind: paths of 8–12 px) and spatially varying "
        "defocus (radius up to 5 px on a random depth field), Gaussian noise (1 % with a known PSF, 0.5 % blind). † = does not beat its blurry input, so it is left out of figure.png.",
        "",
        f"Total: {cpu_seconds:.0f} CPU-seconds ({wall_seconds:.0f} s wall clock).",
        "",
    ]
    for kind in ("nonblind", "motion", "defocus"):
        part = [r for r in rows if r.kind == kind]
        if not part:
            continue
        scenes = list(dict.fromkeys(r.scene for r in part))
        methods = list(dict.fromkeys(r.method for r in part))
        by = {(r.scene, r.method): r for r in part}
        lines += [f"## {KIND_TITLES[kind]}", "", "| method | paper | " + " | ".join(scenes) + " | mean PSNR | s/image |",
                  "|---|---|" + "---|" * (len(scenes) + 2)]
        for m in methods:
            rs = [by[(s, m)] for s in scenes if (s, m) in by]
            cells = " | ".join(
                f"{by[(s, m)].psnr:.2f} / {by[(s, m)].ssim:.3f}{'' if by[(s, m)].shown else ' †'}" if (s, m) in by else "-" for s in scenes
            )
            mean = sum(r.psnr for r in rs) / len(rs)
            secs = sum(r.seconds for r in rs) / len(rs)
            lines.append(f"| {m} | {rs[0].paper} | {cells} | {mean:.2f} | {secs:.2f} |")
        lines.append("")
    return "\n".join(lines)


def _csv(rows: list[DemoRow]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scene", "kind", "method", "paper", "psnr_db", "ssim", "blurry_psnr_db", "beats_blurry", "seconds"])
    for r in rows:
        w.writerow([r.scene, r.kind, r.method, r.paper, f"{r.psnr:.4f}", f"{r.ssim:.6f}", f"{r.blurry_psnr:.4f}", int(r.psnr > r.blurry_psnr), f"{r.seconds:.3f}"])
    return buf.getvalue().encode()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower()


def run_demo(
    out: Path,
    images: int = 3,
    seed: int = 0,
    entries: list[DemoEntry] | None = None,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> list[DemoRow]:
    """Run the demo and write everything to ``out``; returns the table rows."""
    from ..data.samples import sample_images
    from ..inference.imageio import read_image, write_image

    t_wall, t_cpu = time.perf_counter(), time.process_time()
    entries = collect_entries() if entries is None else entries
    if not entries:
        raise ConfigError("no installed plugin registers demo rows (register_pipelines with demo=True); nothing to run")
    if images < 1:
        raise InputError(f"--images must be >= 1, got {images}")
    paths = sample_images("demo")[:images]
    runners = [_Runner(e) for e in entries]
    kinds = ["nonblind"] if any(not e.blind for e in entries) else []
    kinds += [k for k in ("motion", "defocus") if any(_applies(e, k) for e in entries)]
    scenes: list[Scene] = []
    for i, path in enumerate(paths):
        sample = read_image(path, channels=3)[None]
        for kind in kinds:
            scenes.append(nonblind_scene(path.stem, sample, seed + i) if kind == "nonblind" else blind_scene(path.stem, sample, kind, seed + i, DEMO_DEGRADATIONS))
    jobs = [(s, r) for s in scenes for r in runners if _applies(r.entry, s.kind)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="restorekit demo", unit="image", leave=False)
    rows: list[DemoRow] = []
    sections: dict[str, list[tuple[str, list[Panel]]]] = {k: [] for k in kinds}
    for scene in scenes:
        write_image(out / f"{scene.name}_sharp.png", scene.sharp)
        write_image(out / f"{scene.name}_blurry.png", scene.blurry.clamp(0, 1))
        if scene.kernel is not None:
            save_psf(scene.kernel, out / f"{scene.name}_psf")
        b_psnr, b_ssim = _metrics(scene.blurry, scene.sharp)
        rows.append(DemoRow(scene.name, scene.kind, "blurry", "-", b_psnr, b_ssim, b_psnr, 0.0))
        panels = [Panel("sharp", to_uint8(scene.sharp)), Panel("blurry input", to_uint8(scene.blurry), f"{b_psnr:.2f} dB")]
        extras: list[Panel] = []
        for s, runner in [j for j in jobs if j[0] is scene]:
            e = runner.entry
            t0 = time.perf_counter()
            restored, output = runner(scene)
            dt = time.perf_counter() - t0
            psnr, ssim = _metrics(restored, scene.sharp)
            row = DemoRow(scene.name, scene.kind, e.label, e.paper, psnr, ssim, b_psnr, dt)
            rows.append(row)
            write_image(out / f"{scene.name}_{_slug(e.name)}.png", restored)
            if bar is not None:
                bar.update(1)
            echo(f"  {scene.name:<20s} {e.label:<34s} {psnr:6.2f} dB (blurry {b_psnr:.2f})  {dt:5.2f} s{'' if row.shown else '  (below the input: not shown)'}")
            if row.shown:
                panels.append(Panel(e.label, to_uint8(restored), f"{psnr:.2f} dB  ({psnr - b_psnr:+.2f})"))
            if e.blind:
                size = tuple(scene.sharp.shape[-2:])
                if output.estimate.map is not None:
                    extras.append(Panel(f"blur map: {e.paper}", colormap(output.estimate.map, size), "estimated, 0 = sharp"))
                field = _blur_field(output, scene.blurry)
                if field is not None and output.estimate.coefficients is not None:
                    extras.append(Panel(f"blur field: {e.paper}", colormap(field[..., : size[0], : size[1]], size), "|n - A n| of its operator"))
        if scene.kernel is not None and scene.kind == "nonblind":
            k = scene.kernel
            extras.append(Panel(f"PSF {k.shape[-2]}x{k.shape[-1]} (given)", colormap(k / k.max(), tuple(scene.sharp.shape[-2:]), vmax=1.0), "preview, not to scale"))
        if "defocus_radius" in scene.extras:
            r = scene.extras["defocus_radius"]
            extras.append(Panel("true defocus radius", colormap(r, tuple(scene.sharp.shape[-2:])), f"0 to {float(r.max()):.1f} px"))
        sections[scene.kind].append((scene.image, panels + extras))
    if bar is not None:
        bar.close()
    cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
    figure = figure_png(
        "restorekit demo: non-blind and blind deblurring",
        [Section(KIND_TITLES[k], sections[k]) for k in kinds if sections[k]],
        subtitle=f"PSNR in dB (gain over the blurry input); restored images that do not beat their input are left out. "
                 f"{len(entries)} methods, {cpu:.0f} CPU-seconds.",
    )
    atomic_write(out / "figure.png", figure)
    table = _markdown(rows, cpu, wall)
    atomic_write(out / "results.md", table.encode())
    atomic_write(out / "results.csv", _csv(rows))
    echo("")
    echo(table)
    return rows


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``restorekit demo``."""
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--images", type=int, default=3, help="how many bundled photographs to use (default: all 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kernels, defocus fields and noise (default: 0)")
    parser.add_argument("--only", default=None, help="comma-separated demo rows to run (names from --list)")
    parser.add_argument("--list", action="store_true", help="list the demo rows the installed plugins register and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Entry of ``restorekit demo``."""
    entries = collect_entries()
    if args.list:
        for e in entries:
            print(f"{e.name:<24s} {e.task:<15s} {e.paper:<10s} {e.label}")
        return 0
    if args.only:
        wanted = [w.strip() for w in str(args.only).split(",") if w.strip()]
        names = [e.name for e in entries]
        unknown = [w for w in wanted if w not in names]
        if unknown:
            from ..errors import suggestion_text

            raise InputError(f"--only: unknown demo row(s) {unknown}{suggestion_text(unknown[0], names)} (see restorekit demo --list)")
        entries = [e for e in entries if e.name in wanted]
    out = Path(args.out)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    print(f"restorekit demo: {len(entries)} methods on {args.images} bundled photographs -> {out}/")
    run_demo(out, images=args.images, seed=args.seed, entries=entries, progress=not args.no_progress)
    print(f"wrote {out}/figure.png, {out}/results.md, {out}/results.csv, the images and the PSFs (.npy)")
    return 0


def add_commands(cli: Any) -> None:
    """Register ``demo`` (listed in ``restorekit.cli.BUILTIN_COMMAND_MODULES``)."""
    cli.add("demo", "the main job: non-blind and blind deblurring of bundled photographs by every installed paper", configure, run)


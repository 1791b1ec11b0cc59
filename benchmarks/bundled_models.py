"""Every bundled pipeline on one held-out benchmark; the numbers that choose `restorekit deblur`'s defaults.

Held-out images: Set3C (butterfly, leaves, starfish; the project's shared test data, in neither
bundled image set). Degradations, each with 2 fixed seeds per image:

* camera shake, blind — the chain of :data:`restorekit.demo.scenes.BLIND_DEGRADATIONS["motion"]`
  (Boracchi–Foi trajectories, 0.5 % noise);
* defocus, blind — ``BLIND_DEGRADATIONS["defocus"]`` (thin-lens defocus on a random depth field,
  radius 0–5 px, 0.5 % noise);
* camera shake with its PSF (non-blind) — :func:`restorekit.demo.scenes.nonblind_scene` (a linear
  ``valid`` blur by a Levin-size trajectory kernel, 1 % noise).

PSNR on 8-bit RGB, border 0 (protocol ``set3c_levin``). Blind pipelines run on both blind sets
(``heldout_motion_psnr``, ``heldout_defocus_psnr``), non-blind ones on the third
(``heldout_nonblind_psnr``). ``--write-cards`` stores each bundled weights file's numbers in its
model card (same tensors, rewritten atomically), which is where ``restorekit deblur`` reads them.

    python benchmarks/bundled_models.py [--write-cards] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

SET3C = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "set3c"
SEEDS = (0, 1)


def scenes(set3c: Path):
    from restorekit.demo.scenes import blind_scene, nonblind_scene
    from restorekit.inference.imageio import read_image

    out = {"motion": [], "defocus": [], "nonblind": []}
    for i, path in enumerate(sorted(set3c.glob("*.png"))):
        sample = read_image(path, channels=3)[None]
        for s in SEEDS:
            seed = 100 + 10 * i + s
            out["motion"].append(blind_scene(path.stem, sample, "motion", seed))
            out["defocus"].append(blind_scene(path.stem, sample, "defocus", seed))
            out["nonblind"].append(nonblind_scene(path.stem, sample, seed))
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    from restorekit.metrics import compute_metrics

    return float(compute_metrics(a.clamp(0, 1), b, {"protocol": "set3c_levin", "metrics": ["psnr"]})["psnr"][0])


@torch.no_grad()
def evaluate(entry, sets) -> dict[str, float]:
    from restorekit.inference.deblur import pad_to_multiple

    pipe = entry.build()
    kinds = ("motion", "defocus") if entry.blind else ("nonblind",)
    out: dict[str, float] = {}
    for kind in kinds:
        vals, t0 = [], time.perf_counter()
        for sc in sets[kind]:
            x, (h, w) = pad_to_multiple(sc.blurry, pipe.size_multiple)
            batch = {"blurry": x} if entry.blind else {"blurry": x, "kernel": sc.kernel}
            vals.append(psnr(pipe(batch).restored[..., :h, :w], sc.sharp))
        out[f"heldout_{kind}_psnr"] = round(sum(vals) / len(vals), 2)
        out[f"heldout_{kind}_seconds"] = round((time.perf_counter() - t0) / len(vals), 2)
    return out


def main() -> None:
    from restorekit.bundled import bundled_pipelines

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set3c", type=Path, default=SET3C)
    parser.add_argument("--only", default=None, help="comma-separated bundled names")
    parser.add_argument("--write-cards", action="store_true", help="store the numbers in the bundled weights' model cards")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    sets = scenes(args.set3c)
    blurry = {k: round(sum(psnr(s.blurry, s.sharp) for s in v) / len(v), 2) for k, v in sets.items()}
    entries = [e for e in bundled_pipelines().values() if e.task is not None and (e.weights is not None or e.demo)]
    if args.only:
        keep = {n.strip() for n in args.only.split(",")}
        entries = [e for e in entries if e.name in keep]
    results = {}
    for e in entries:
        results[e.name] = evaluate(e, sets)
        print(e.name, results[e.name], flush=True)
    print(f"\nHeld-out Set3C × {len(SEEDS)} seeds, PSNR (dB), 8-bit RGB. Blurry input: camera shake {blurry['motion']:.2f}, "
          f"defocus {blurry['defocus']:.2f}, camera shake with PSF {blurry['nonblind']:.2f}.\n")
    print("| pipeline | task | camera shake (blind) | defocus (blind) | mean blind | camera shake + PSF | s / 256² image |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        e = next(x for x in entries if x.name == name)
        m, d, n = r.get("heldout_motion_psnr"), r.get("heldout_defocus_psnr"), r.get("heldout_nonblind_psnr")
        mean = (m + d) / 2 if m is not None and d is not None else None
        secs = r.get("heldout_motion_seconds", r.get("heldout_nonblind_seconds"))
        cell = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"| {name} | {e.task} | {cell(m)} | {cell(d)} | {cell(mean)} | {cell(n)} | {secs:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"blurry": blurry, "results": results}, indent=2))
    if args.write_cards:
        from restorekit.weights import read_card, read_state_dict, save_weights

        for name, r in results.items():
            e = next(x for x in entries if x.name == name)
            if e.weights is None:
                continue
            card = read_card(e.weights)
            tensors, _ = read_state_dict(e.weights)
            card.metrics.update({k: v for k, v in r.items() if k.endswith("_psnr")})
            card.metrics.update({f"heldout_{k}_input_psnr": v for k, v in blurry.items()})
            save_weights(tensors, e.weights, card=card)
            print(f"updated the card of {e.weights}")
            w = Path(e.weights)
            for md in (w.with_suffix(".md"), w.parent / "README.md"):  # the human-readable copy of the card
                if md.is_file() and md.read_text(encoding="utf-8").startswith(f"# {card.name}\n"):
                    md.write_text(card.markdown(), encoding="utf-8")
                    print(f"updated {md}")
                    break


if __name__ == "__main__":
    main()

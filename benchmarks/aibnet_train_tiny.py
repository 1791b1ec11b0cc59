"""Train ``pipelines/aibnet_tiny.yaml`` (or, with ``--blind``, ``aibnet_tiny_blind.yaml``) on the
CPU as shipped and report held-out PSNR against the blurry input; optionally write the bundled
weights with their model card.

* training: the YAML's ``data.train`` (synthetic camera shake + 0.5 % noise; ``--blind``: camera
  shake or spatially varying defocus, one per image; on random 64² crops of the 12 bundled
  photographs, ``bundled:train``) and ``train:`` sections, unchanged: two progressive
  stages (stage 1: the tiny NAFNet encoder and sub-decoder 1; stage 2: sub-decoder 2 alone),
  600 Adam steps each, batch 4;
* held out (never seen in training): the three demo photos (astronaut, chelsea,
  coffee, 224²) —

  - ``val``: the YAML's ``data.val`` set, 12 centred 128² crops (4 random kernels per image,
    fixed by the dataset seed);
  - ``full``: each full 224² image blurred with 2 fixed kernels (``motion_bf`` seeds 100/101,
    path length 10 px, reflect boundary);

  PSNR (float, peak 1, restored clamped to [0, 1], no border crop) of the blurry input, of
  sub-decoder 1's output Î_1 and of the final output Î_2.

Usage (``OMP_NUM_THREADS=1``: the CPU is shared)::

    OMP_NUM_THREADS=1 python benchmarks/aibnet_train_tiny.py [--blind] [--out DIR] [--save]

``--save`` writes ``plugins/aibnet/weights/aibnet_tiny.safetensors`` (``--blind``:
``aibnet_tiny_blind.safetensors``) with a model card (:func:`restorekit.save_weights`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES = "the 12 bundled scikit-image crops (bundled:train: rocket ×2, hubble ×2, immunohistochemistry, retina, brick, grass, gravel, camera, coins, cell)"
VARIANTS = {
    # name → (pipeline, weights, card name, task, training blur, validation blur)
    "motion": (ROOT / "pipelines" / "aibnet_tiny.yaml", ROOT / "plugins" / "aibnet" / "weights" / "aibnet_tiny.safetensors",
               "aibnet.tiny", "motion",
               "synthetic Boracchi–Foi camera shake (motion_bf, canvas 15, path 5–12 px, full exposure, reflect boundary) + Gaussian noise σ 0.005",
               "4 motion_bf kernels each"),
    "blind": (ROOT / "pipelines" / "aibnet_tiny_blind.yaml", ROOT / "plugins" / "aibnet" / "weights" / "aibnet_tiny_blind.safetensors",
              "aibnet.tiny_blind", "motion+defocus",
              "synthetic: one of two blurs per image, half each: Boracchi–Foi camera shake (motion_bf, canvas 15, path 5–12 px, full exposure) "
              "or spatially varying thin-lens defocus (defocus_depth, layered, radius 0–5 px on a random depth field), reflect boundary, "
              "+ Gaussian noise σ 0.005",
              "4 blurs each from the training mixture"),
}
PIPELINE, WEIGHTS = VARIANTS["motion"][:2]


from _heldout import full_pairs, psnr  # noqa: E402 (benchmarks/_heldout.py: shared held-out evaluation)


def evaluate(pipe: torch.nn.Module, pairs: list[tuple[str, Tensor, Tensor]]) -> dict[str, float]:
    was = pipe.training
    pipe.eval()
    b, s1, s2 = [], [], []
    with torch.no_grad():
        for _, sharp, blurry in pairs:
            out = pipe({"blurry": blurry[None]})
            b.append(psnr(blurry, sharp))
            s1.append(psnr(out.intermediates[-1][0].clamp(0, 1), sharp))
            s2.append(psnr(out.restored[0].clamp(0, 1), sharp))
    pipe.train(was)
    return {"blurry": float(np.mean(b)), "subdecoder1": float(np.mean(s1)), "restored": float(np.mean(s2))}


def write_bundle(pipe: torch.nn.Module, results: dict, variant: str = "motion") -> None:
    """Write the bundled weights with their model card, and the card as ``weights/<stem>.md``
    (``weights/README.md`` for ``aibnet.tiny``)."""
    import restorekit
    from restorekit.config import resolve_config

    pipeline, weights, name, task, blur, val_blur = VARIANTS[variant]
    after, steps, n_params = results["after"], int(results["steps"]), int(results["parameters"])
    card = restorekit.ModelCard(
        name=name,
        pipeline=resolve_config(pipeline),
        task=task,
        size_multiple=int(pipe.size_multiple),
        data=f"{blur}, on random 64² crops (flips) of {TRAIN_IMAGES}",
        steps=steps,
        val_psnr=round(after["val"]["restored"], 2),
        val_input_psnr=round(after["val"]["blurry"], 2),
        val_set=(f"held out (not used in training): 12 centred 128² crops of the demo photos astronaut, chelsea, "
                 f"coffee, {val_blur} (data.val of pipelines/{pipeline.name}); PSNR float, peak 1, no border crop"),
        licence="MIT",
        command="OMP_NUM_THREADS=1 python benchmarks/aibnet_train_tiny.py --save" + (" --blind" if variant == "blind" else ""),
        notes=(f"Tiny AIBNet: NAFNet encoder width 8, stages [1,1,1,1] (trained from scratch in stage 1: no pretrained tiny "
               f"NAFNet exists), 2 sub-decoders of width 8 with N = 1 SFDH block and one HFSBlock (n_m = 4) per level; "
               f"{n_params:,} parameters; progressive training, 600 Adam steps per sub-decoder stage, {results['minutes']:.1f} min "
               f"on a shared 2-core CPU. Sub-decoder 1 alone: {after['val']['subdecoder1']:.2f} dB on the validation crops. "
               f"Full 224² held-out images × 2 fixed kernels (path 10 px): blurry {after['full']['blurry']:.2f} dB, sub-decoder 1 "
               f"{after['full']['subdecoder1']:.2f} dB, restored {after['full']['restored']:.2f} dB. A demonstration of the "
               f"components and the progressive schedule, not the paper's model."),
        metrics={
            "val_subdecoder1_psnr": round(after["val"]["subdecoder1"], 2),
            "full_input_psnr": round(after["full"]["blurry"], 2),
            "full_subdecoder1_psnr": round(after["full"]["subdecoder1"], 2),
            "full_psnr": round(after["full"]["restored"], 2),
        },
    )
    weights.parent.mkdir(parents=True, exist_ok=True)
    restorekit.save_weights(pipe, weights, card=card)
    md = weights.parent / ("README.md" if variant == "motion" else f"{weights.stem}.md")
    md.write_text(card.markdown(), encoding="utf-8")
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and its card {md}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/aibnet_tiny or runs/aibnet_tiny_blind)")
    parser.add_argument("--save", action="store_true", help="write the bundled weights (plugins/aibnet/weights/) with a model card")
    parser.add_argument("--from-run", type=Path, default=None,
                        help="do not train: write the bundle from a finished run of this script (its model.safetensors and results.json)")
    parser.add_argument("-o", "--override", action="append", default=[], help="dotted overrides (for experiments; the bundled weights use none)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    parser.add_argument("--blind", action="store_true",
                        help="the blind variant: pipelines/aibnet_tiny_blind.yaml (camera shake or defocus) -> aibnet.tiny_blind")
    args = parser.parse_args()
    global PIPELINE, WEIGHTS
    variant = "blind" if args.blind else "motion"
    PIPELINE, WEIGHTS = VARIANTS[variant][:2]
    args.out = args.out or Path("runs") / PIPELINE.stem

    if args.from_run is not None:
        import restorekit

        pipe = restorekit.load_pipeline(PIPELINE)
        restorekit.load_weights(pipe, args.from_run / "model.safetensors")
        results = json.loads((args.from_run / "results.json").read_text(encoding="utf-8"))
        check = {"val": evaluate(pipe, [(f"val{i}", s["sharp"], s["blurry"]) for i, s in enumerate(_val_set())]), "full": evaluate(pipe, full_pairs())}
        assert abs(check["val"]["restored"] - results["after"]["val"]["restored"]) < 1e-6, (check, results["after"])
        print(json.dumps({"checked": check}))
        if args.save:
            write_bundle(pipe, results, variant)
        return

    from restorekit.engine.trainer import Trainer

    torch.manual_seed(0)
    trainer = Trainer(PIPELINE, args.override, out_dir=args.out, device="cpu", progress=False, overwrite=args.overwrite)
    pipe = trainer.pipeline
    val = [(f"val{i}", trainer.val_dataset[i]["sharp"], trainer.val_dataset[i]["blurry"]) for i in range(len(trainer.val_dataset))]
    full = full_pairs()
    before = {"val": evaluate(pipe, val), "full": evaluate(pipe, full)}
    start = time.time()
    summary = trainer.fit()
    minutes = (time.time() - start) / 60
    trainer.close()
    after = {"val": evaluate(pipe, val), "full": evaluate(pipe, full)}
    n_params = sum(p.numel() for p in pipe.parameters())
    steps = int(summary["iteration"])
    print(f"{PIPELINE.stem}: {n_params:,} parameters, {steps} iterations in {minutes:.1f} min on the CPU")
    for split, what in (("val", "12 held-out 128² crops (data.val)"), ("full", "3 held-out 224² images × 2 kernels")):
        a, b = before[split], after[split]
        print(f"{what}: blurry {a['blurry']:.2f} dB | at init {a['restored']:.2f} dB | "
              f"sub-decoder 1 {b['subdecoder1']:.2f} dB | restored {b['restored']:.2f} dB")
    results = {"before": before, "after": after, "minutes": minutes, "steps": steps, "parameters": n_params}
    print(json.dumps(results))
    (args.out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.save:
        write_bundle(pipe, results, variant)


def _val_set():
    from restorekit.config import resolve_config
    from restorekit.data import build_dataset

    cfg = resolve_config(PIPELINE)
    return build_dataset(cfg["data"], "val", int(cfg["train"].get("seed", 0)))


if __name__ == "__main__":
    main()

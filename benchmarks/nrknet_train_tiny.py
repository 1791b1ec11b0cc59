"""Train ``pipelines/nrknet_tiny.yaml`` as shipped (CPU, minutes) and write the bundled
``nrknet.tiny`` weights with their model card.

* training: the YAML's ``data.train`` (spatially varying thin-lens defocus, radius 0–5 px on a
  random smooth depth field, + 0.5 % noise, on random 64² crops of the bundled training
  photographs, ``bundled:train``) and ``train:`` sections, unchanged;
* held out (never seen in training): the YAML's ``data.val`` — the three demo photographs
  (astronaut, chelsea, coffee, 224²), 2 defocus fields each (fixed by the dataset seed); PSNR
  float, peak 1, restored clamped to [0, 1], no border crop.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/nrknet_train_tiny.py --save                    # train, then write
    python benchmarks/nrknet_train_tiny.py --from-run runs/nrknet_tiny --save          # write from a finished run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "nrknet_tiny.yaml"
WEIGHTS = ROOT / "plugins" / "nrknet" / "weights" / "nrknet_tiny.safetensors"
SHORT_STEPS = 300
"""A card also records the held-out PSNR of the same pipeline trained with a short schedule of
its own (``-o train.iterations=300``: a full cosine schedule of 300 steps), which a test reruns."""


from _heldout import psnr  # noqa: E402 (benchmarks/_heldout.py: shared held-out evaluation)


@torch.no_grad()
def held_out(pipe: torch.nn.Module, config: dict) -> dict[str, float]:
    from restorekit.data import build_dataset

    ds = build_dataset(config["data"], "val", seed=int(config["train"]["seed"]))
    was = pipe.training
    pipe.eval()
    b, r = [], []
    for i in range(len(ds)):
        s = ds[i]
        out = pipe({"blurry": s["blurry"][None]}).restored[0].clamp(0, 1)
        b.append(psnr(s["blurry"], s["sharp"]))
        r.append(psnr(out, s["sharp"]))
    pipe.train(was)
    return {"blurry": sum(b) / len(b), "restored": sum(r) / len(r), "images": len(b)}


def main() -> None:
    import restorekit
    from restorekit.config import resolve_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/nrknet_tiny"))
    parser.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    parser.add_argument("--from-run", type=Path, default=None, help="do not train: use this finished run's model.safetensors")
    parser.add_argument("--save", action="store_true", help=f"write {WEIGHTS.relative_to(ROOT)} with its model card")
    args = parser.parse_args()
    config = resolve_config(PIPELINE)
    t0 = time.time()
    if args.from_run is None:
        from restorekit.engine.trainer import Trainer

        trainer = Trainer(PIPELINE, out_dir=args.out, device="cpu", progress=False, overwrite=args.overwrite)
        trainer.fit()
        run = args.out
    else:
        run = args.from_run
    minutes = (time.time() - t0) / 60
    pipe = restorekit.load_pipeline(config)
    restorekit.load_weights(pipe, run / "model.safetensors")
    res = held_out(pipe, config)
    n_params = sum(p.numel() for p in pipe.parameters())
    # The short-schedule figure the card-reproduction test reruns (tests/nrknet/test_nrknet_card.py):
    # the same pipeline trained with a 300-step schedule of its own.
    res_short = None
    if args.save:
        from restorekit.engine.trainer import Trainer

        short_run = Path(str(run) + "_short")
        Trainer(PIPELINE, [f"train.iterations={SHORT_STEPS}"], out_dir=short_run, device="cpu", progress=False,
                overwrite=True).fit()
        early = restorekit.load_pipeline(config)
        restorekit.load_weights(early, short_run / "model.safetensors")
        res_short = held_out(early, config)
    print(json.dumps({"held_out": res, f"held_out_short_{SHORT_STEPS}": res_short, "parameters": n_params,
                      "minutes": round(minutes, 1)}, indent=2))
    if not args.save:
        return
    steps = int(config["train"]["iterations"])
    card = restorekit.ModelCard(
        name="nrknet.tiny",
        pipeline=config,
        task="defocus",
        size_multiple=int(pipe.size_multiple),
        data=("synthetic spatially varying thin-lens defocus (defocus_depth, layered, 8 levels, radius 0–5 px on a random "
              "smooth depth field, reflect boundary) + Gaussian noise σ 0.005 on random 64² crops (flips, rot90) of the 12 "
              "bundled scikit-image crops (bundled:train)"),
        steps=steps,
        val_psnr=round(res["restored"], 2),
        val_input_psnr=round(res["blurry"], 2),
        val_set=("held out (not used in training): the 3 demo photos astronaut, chelsea, coffee (224²), 2 defocus fields each "
                 "(data.val of pipelines/nrknet_tiny.yaml); PSNR float, peak 1, no border crop"),
        licence="MIT",
        command="OMP_NUM_THREADS=1 python benchmarks/nrknet_train_tiny.py --save",
        metrics=({f"val_psnr_short_{SHORT_STEPS}_steps": round(res_short["restored"], 2)} if res_short else {}),
        notes=(f"Tiny NRKNet: paper-form RKR with J = 9 (Δ + 8 recursions, largest kernel 17×17), Γ estimator widths 8/16/32 "
               f"with init: identity (D = I at step 0), cross-scale Neumann decoder n = 1, 2, 3; {n_params:,} parameters; "
               f"{steps} Adam steps, batch 4, lr 2e-3 cosine"
               + (f" (trained with a {SHORT_STEPS}-step schedule instead, `restorekit train pipelines/nrknet_tiny.yaml "
                  f"-o train.iterations={SHORT_STEPS}`: {res_short['restored']:.2f} dB, the figure the card test reruns)"
                  if res_short else "")
               + f". A demonstration of the components, not the paper's model "
               f"(pipelines/nrknet.yaml with the official weights is)."),
    )
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    restorekit.save_weights(pipe, WEIGHTS, card=card)
    (WEIGHTS.parent / "README.md").write_text(card.markdown(), encoding="utf-8")
    print(f"wrote {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB) and {WEIGHTS.parent / 'README.md'}")


if __name__ == "__main__":
    main()

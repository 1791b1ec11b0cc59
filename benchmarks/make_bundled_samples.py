"""Regenerate the bundled training photographs in core/data/samples/train (run once; the package
never downloads anything). Every source image ships with scikit-image (skimage.data) and is
public domain or CC0 (see core/data/samples/README.md). 256×256 RGB crops, Lanczos-resized;
grey images are stored as RGB. The demo/validation set (astronaut, chelsea, coffee) is
deliberately absent from this list.

    python benchmarks/make_bundled_samples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "core" / "data" / "samples" / "train"

# name → (skimage function, crop box (left, top, right, bottom))
CROPS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "rocket_a": ("rocket", (0, 0, 427, 427)),
    "rocket_b": ("rocket", (213, 0, 640, 427)),
    "hubble_a": ("hubble_deep_field", (100, 100, 484, 484)),
    "hubble_b": ("hubble_deep_field", (500, 400, 884, 784)),
    "ihc": ("immunohistochemistry", (0, 0, 384, 384)),
    "retina": ("retina", (400, 400, 1000, 1000)),
    "brick": ("brick", (0, 0, 384, 384)),
    "grass": ("grass", (0, 0, 384, 384)),
    "gravel": ("gravel", (0, 0, 384, 384)),
    "camera": ("camera", (64, 0, 448, 384)),
    "coins": ("coins", (0, 0, 303, 303)),
    "cell": ("cell", (50, 50, 550, 550)),
}


def main() -> None:
    import skimage.data as data

    OUT.mkdir(parents=True, exist_ok=True)
    for name, (fn, box) in CROPS.items():
        arr = getattr(data, fn)()
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        img = Image.fromarray(arr[..., :3].astype(np.uint8)).crop(box).resize((256, 256), Image.LANCZOS)
        img.save(OUT / f"{name}.png", optimize=True)
        print(f"{name}.png  from skimage.data.{fn}() crop {box}")


if __name__ == "__main__":
    main()

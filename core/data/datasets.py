"""Paired-folder datasets (GoPro, RealBlur, DPDD, LFDOF, generic) and the synthetic dataset.

Every dataset yields ``{"blurry": (C,H,W), "sharp": (C,H,W), "name": str, …}`` float32 in
[0, 1] and is a pure function of ``(seed, epoch, index)``: each sample draws its crop, flips
and degradations from its own ``torch.Generator`` (:func:`restorekit.data.augment.sample_generator`),
never from global RNG state. Training datasets change with :meth:`DeblurDataset.set_epoch`;
validation/test datasets ignore the epoch (the same crops every time).

Folder layouts (``root`` is the dataset's root folder; ``split`` is train / val / test). These are
library functions; the ``standard`` plugin registers them as the datasets ``standard.paired``
… ``standard.synthetic`` that YAML names:

=============  =====================================================================================
``paired``     ``root[/subset]/{blurry_dir,sharp_dir}/NAME.ext`` (defaults ``blur``, ``sharp``);
               pairs by identical relative file name
``gopro``      ``root/{train,test}/<scene>/{blur,sharp}/NAME.png`` (GoPro_Large; val → ``test``)
``realblur``   a list file of ``gt/… blur/…`` pairs per line, paths relative to ``root``:
               ``list_file`` or ``RealBlur_J_{train,test}_list.txt`` / ``RealBlur_R_…`` in ``root``
``dpdd``       ``root/{train_c,val_c,test_c}/{source,target}/NAME.png`` (single-image input ``source``)
``lfdof``      ``root/{train_data,test_data}/{input,ground_truth}``: ``input/<scene>/*.png`` all pair
               with ``ground_truth/<scene>.png`` (as in the LFDOF training lists); a flat
               ``input/NAME.png`` pairs with ``ground_truth/NAME.png`` (our choice for the test set)
``synthetic``  any folder of sharp images (recursive); the blurry image is made on the fly
=============  =====================================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import ConfigError, InputError
from ..inference.imageio import IMAGE_SUFFIXES, is_image_file, read_image
from .augment import paired_augment, sample_generator
from .kernel_utils import to_odd
from .synthetic import degrade

Pair = tuple[Path, Path, str]
"""(blurry path, sharp path, sample name)."""


def _listing(folder: Path, limit: int = 8) -> str:
    if not folder.is_dir():
        parent = folder.parent
        if parent.is_dir():
            found = sorted(p.name for p in parent.iterdir())
            shown = ", ".join(found[:limit]) + (" …" if len(found) > limit else "")
            return f"'{parent}' contains: {shown or 'nothing'}"
        return f"'{parent}' does not exist either"
    return ""


def require_dir(folder: Path, what: str) -> Path:
    """``folder`` if it is a directory, else an :class:`InputError` naming what was found."""
    if not folder.is_dir():
        raise InputError(f"{what}: expected folder '{folder}' does not exist; {_listing(folder)}")
    return folder


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files (by suffix) under ``folder``, sorted."""
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and is_image_file(p))


def pair_by_name(blurry_dir: Path, sharp_dir: Path, what: str, prefix: str = "") -> list[Pair]:
    """Pair files with the same stem in two folders; unpaired names are an error listing them."""
    blurry = {p.stem: p for p in image_files(blurry_dir)}
    sharp = {p.stem: p for p in image_files(sharp_dir)}
    if not blurry:
        raise InputError(f"{what}: no images ({', '.join(IMAGE_SUFFIXES)}) in '{blurry_dir}'")
    only_b = sorted(set(blurry) - set(sharp))
    only_s = sorted(set(sharp) - set(blurry))
    if only_b or only_s:
        parts = []
        if only_b:
            parts.append(f"{len(only_b)} in '{blurry_dir}' without a sharp image: {', '.join(only_b[:10])}")
        if only_s:
            parts.append(f"{len(only_s)} in '{sharp_dir}' without a blurry image: {', '.join(only_s[:10])}")
        raise InputError(f"{what}: unpaired file names: " + "; ".join(parts))
    return [(blurry[s], sharp[s], f"{prefix}{s}") for s in sorted(blurry)]


# ---------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------

_SPLIT_FOLDERS: dict[str, dict[str, str]] = {
    "gopro": {"train": "train", "val": "test", "test": "test"},
    "dpdd": {"train": "train_c", "val": "val_c", "test": "test_c"},
    "lfdof": {"train": "train_data", "val": "test_data", "test": "test_data"},
    "realblur": {"train": "train", "val": "test", "test": "test"},
}


def _split_folder(kind: str, split: str, subset: str | None) -> str:
    return subset if subset is not None else _SPLIT_FOLDERS[kind][split]


def paired_pairs(root: Path, cfg: Mapping[str, Any], split: str) -> list[Pair]:
    base = root / cfg["subset"] if cfg.get("subset") else root
    what = f"paired dataset ({split})"
    b = require_dir(base / cfg.get("blurry_dir", "blur"), what)
    s = require_dir(base / cfg.get("sharp_dir", "sharp"), what)
    return pair_by_name(b, s, what)


def gopro_pairs(root: Path, cfg: Mapping[str, Any], split: str) -> list[Pair]:
    folder = require_dir(root / _split_folder("gopro", split, cfg.get("subset")), f"GoPro dataset ({split})")
    scenes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not scenes:
        raise InputError(f"GoPro dataset ({split}): '{folder}' has no scene folders (expected <scene>/blur and <scene>/sharp)")
    blurry_dir, sharp_dir = cfg.get("blurry_dir", "blur"), cfg.get("sharp_dir", "sharp")
    pairs: list[Pair] = []
    for scene in scenes:
        what = f"GoPro dataset ({split}), scene '{scene.name}'"
        b = require_dir(scene / blurry_dir, what)
        s = require_dir(scene / sharp_dir, what)
        pairs += pair_by_name(b, s, what, prefix=f"{scene.name}/")
    return pairs


def dpdd_pairs(root: Path, cfg: Mapping[str, Any], split: str) -> list[Pair]:
    folder = require_dir(root / _split_folder("dpdd", split, cfg.get("subset")), f"DPDD dataset ({split})")
    what = f"DPDD dataset ({split})"
    return pair_by_name(require_dir(folder / "source", what), require_dir(folder / "target", what), what)


def lfdof_pairs(root: Path, cfg: Mapping[str, Any], split: str) -> list[Pair]:
    folder = require_dir(root / _split_folder("lfdof", split, cfg.get("subset")), f"LFDOF dataset ({split})")
    what = f"LFDOF dataset ({split})"
    inp = require_dir(folder / "input", what)
    gt_dir = require_dir(folder / "ground_truth", what)
    gts = {p.stem: p for p in image_files(gt_dir)}
    pairs: list[Pair] = []
    missing: list[str] = []
    for entry in sorted(inp.iterdir()):
        if entry.is_dir():
            gt = gts.get(entry.name)
            files = image_files(entry)
            if gt is None:
                missing.append(f"{entry.name}/ ({len(files)} images)")
                continue
            pairs += [(f, gt, f"{entry.name}/{f.stem}") for f in files]
        elif is_image_file(entry):
            gt = gts.get(entry.stem)
            if gt is None:
                missing.append(entry.name)
                continue
            pairs.append((entry, gt, entry.stem))
    if missing:
        raise InputError(f"{what}: inputs without a ground_truth/<name> image in '{gt_dir}': {', '.join(missing[:10])}")
    if not pairs:
        raise InputError(f"{what}: no input images under '{inp}'")
    return pairs


def entry_in_root(root: Path, entry: str, where: str) -> tuple[Path, Path]:
    """A list-file entry as ``(path, path relative to root)``: a relative entry is taken
    relative to ``root``, an absolute one as it is; ``..`` steps are resolved lexically
    (symbolic links inside the root are the user's own choice and are followed when read).

    Raises:
        InputError: the entry leaves the dataset root (naming ``where``, the file and line).
    """
    import os

    base = Path(os.path.abspath(root))
    full = Path(os.path.normpath(entry if os.path.isabs(entry) else base / entry))
    try:
        rel = full.relative_to(base)
    except ValueError:
        raise InputError(
            f"{where}: '{entry}' resolves to '{full}', outside the dataset root '{root}'; list files may only name files "
            f"inside the dataset root (refused)"
        ) from None
    if not rel.parts:
        raise InputError(f"{where}: '{entry}' names the dataset root itself, not an image file")
    return full, rel


def realblur_pairs(root: Path, cfg: Mapping[str, Any], split: str) -> list[Pair]:
    what = f"RealBlur dataset ({split})"
    require_dir(root, what)
    if cfg.get("list_file"):
        list_path = root / cfg["list_file"]
        if not list_path.is_file():
            raise InputError(f"{what}: list file '{list_path}' does not exist")
    else:
        part = _split_folder("realblur", split, cfg.get("subset"))
        candidates = [root / f"RealBlur_J_{part}_list.txt", root / f"RealBlur_R_{part}_list.txt"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            txts = sorted(p.name for p in root.glob("*.txt"))
            raise InputError(
                f"{what}: no pair list in '{root}' (expected {candidates[0].name} or {candidates[1].name}; "
                f"found: {', '.join(txts) or 'no .txt files'}); set `list_file:` or use `type: paired` for folder pairs"
            )
        list_path = found[0]
    pairs: list[Pair] = []
    missing: list[str] = []
    try:
        text = list_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: list file '{list_path}' is not UTF-8 text; save it as UTF-8") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise InputError(f"{list_path}:{lineno}: expected 'gt/… blur/…' (two paths), got {line!r}")
        sharp, sharp_rel = entry_in_root(root, fields[0], f"{list_path}:{lineno}")
        blurry, blurry_rel = entry_in_root(root, fields[1], f"{list_path}:{lineno}")
        for p in (sharp, blurry):
            if not p.is_file():
                missing.append(str(p))
        pairs.append((blurry, sharp, blurry_rel.with_suffix("").as_posix()))
    if missing:
        raise InputError(f"{what}: {len(missing)} files listed in '{list_path}' do not exist: {', '.join(missing[:5])}")
    if not pairs:
        raise InputError(f"{what}: '{list_path}' lists no pairs")
    return pairs


LAYOUTS = {
    "paired": paired_pairs,
    "gopro": gopro_pairs,
    "dpdd": dpdd_pairs,
    "lfdof": lfdof_pairs,
    "realblur": realblur_pairs,
}
"""Layout name → pair-listing function ``f(root, cfg, split) -> [(blurry, sharp, name)]``; a
library for dataset factories (the datasets usable in YAML are the registered ones)."""


# ---------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------


class DeblurDataset(Dataset):
    """Base: seeding, epochs and paired augmentation.

    Args:
        seed: the run's seed plus the dataset's own ``seed``.
        train: training mode (random crops/flips/rot90 that change with the epoch);
            otherwise samples are fixed (centred crops, no flips).
        crop, random_crop, flips, rot90, channels: see :class:`~restorekit.data.settings.DatasetSettings`.
    """

    def __init__(
        self,
        seed: int = 0,
        train: bool = True,
        crop: int | None = None,
        random_crop: bool | None = None,
        flips: bool = False,
        rot90: bool = False,
        channels: int = 3,
    ) -> None:
        self.seed = int(seed)
        self.train = train
        self.crop = crop
        self.random_crop = train if random_crop is None else bool(random_crop)
        self.flips = flips and train
        self.rot90 = rot90 and train
        self.channels = channels
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (training datasets draw new crops/degradations per epoch)."""
        self.epoch = int(epoch)

    def generator(self, index: int) -> torch.Generator:
        """The sample's generator, a function of ``(seed, epoch, index)`` (epoch 0 when not training)."""
        return sample_generator(self.seed, self.epoch if self.train else 0, index)

    def _augment(self, images: dict[str, Tensor], gen: torch.Generator, kernel: Tensor | None, name: str) -> tuple[dict[str, Tensor], Tensor | None]:
        return paired_augment(
            images, gen, crop=self.crop, random_crop=self.random_crop, flips=self.flips, rot90=self.rot90,
            kernel=kernel, name=name,
        )


class PairedFolderDataset(DeblurDataset):
    """Blurry/sharp image pairs from a list of files (see the layouts above)."""

    def __init__(self, pairs: Sequence[Pair], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not pairs:
            raise InputError("the dataset has no image pairs")
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        blurry_path, sharp_path, name = self.pairs[index]
        blurry = read_image(blurry_path, self.channels, warn_alpha=False)
        sharp = read_image(sharp_path, self.channels, warn_alpha=False)
        if blurry.shape != sharp.shape:
            raise InputError(
                f"pair '{name}': blurry {blurry_path} is {tuple(blurry.shape[-2:])} but sharp {sharp_path} is "
                f"{tuple(sharp.shape[-2:])}; a pair must be pixel-aligned images of the same size"
            )
        images, _ = self._augment({"blurry": blurry, "sharp": sharp}, self.generator(index), None, name)
        return {**images, "name": name}


class SyntheticDataset(DeblurDataset):
    """Sharp images from a folder, degraded on the fly by a degradation chain.

    Each sample: read image ``index mod N``, crop/flip/rotate it, then degrade it (see
    :func:`restorekit.data.synthetic.degrade`), all from the sample's generator. The
    sample has ``kernel`` ``(1, h, w)`` (odd size, sum 1) when the chain's blurs are uniform.

    Args:
        files: sharp image files.
        degradations: validated degradation specs.
        length: samples per epoch (default ``len(files)``).
    """

    def __init__(self, files: Sequence[Path], degradations: Sequence[Mapping[str, Any]], length: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not files:
            raise InputError("the synthetic dataset has no sharp images")
        self.files = list(files)
        self.degradations = [dict(d) for d in degradations]
        self.length = int(length) if length is not None else len(self.files)
        if self.length <= 0:
            raise ConfigError(f"length must be positive, got {self.length}")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} samples")
        path = self.files[index % len(self.files)]
        gen = self.generator(index)
        sharp = read_image(path, self.channels, warn_alpha=False)
        images, _ = self._augment({"sharp": sharp}, gen, None, str(path))
        out: dict[str, Any] = {"sharp": images["sharp"]}
        out.update(degrade(images["sharp"], self.degradations, gen))
        if "kernel" in out:
            out["kernel"] = to_odd(out["kernel"])
        out["name"] = f"{path.stem}#{index}"
        return out

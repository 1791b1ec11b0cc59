"""The standard plugin's datasets: the paired-folder layouts and the synthetic dataset.

Each factory takes its own typed options (the YAML schema) plus the keyword arguments the
core passes to every dataset (``split``, ``seed``, ``train``, ``crop``, ``random_crop``,
``flips``, ``rot90``, ``channels``), and returns a :class:`restorekit.data.DeblurDataset`.
The layouts themselves are library code in :mod:`restorekit.data.datasets`.
"""

from __future__ import annotations

from typing import Any

from restorekit.errors import ConfigError, InputError
from restorekit.data.datasets import (
    LAYOUTS,
    PairedFolderDataset,
    SyntheticDataset,
    image_files,
    require_dir,
)
from restorekit.data.samples import resolve_root
from restorekit.data.settings import Degradation

__all__ = ["DATASETS"]


def _paired_layout(kind: str, root: str, split: str, options: dict[str, Any], common: dict[str, Any]) -> PairedFolderDataset:
    pairs = LAYOUTS[kind](resolve_root(root), options, split)
    return PairedFolderDataset(pairs, **common)


def paired(root: str, split: str, subset: str | None = None, blurry_dir: str = "blur", sharp_dir: str = "sharp", **common: Any) -> PairedFolderDataset:
    """Generic pairs: ``root[/subset]/{blurry_dir,sharp_dir}/NAME.ext`` paired by file name.

    Args:
        root: dataset root folder.
        subset: optional sub-folder of ``root``.
        blurry_dir, sharp_dir: sub-folder names (``blur``, ``sharp``).
    """
    return _paired_layout("paired", root, split, {"subset": subset, "blurry_dir": blurry_dir, "sharp_dir": sharp_dir}, common)


def gopro(root: str, split: str, subset: str | None = None, blurry_dir: str = "blur", sharp_dir: str = "sharp", **common: Any) -> PairedFolderDataset:
    """GoPro_Large: ``root/{train,test}/<scene>/{blur,sharp}/NAME.png`` (val → ``test``).

    Args:
        root: the GOPRO_Large folder.
        subset: split folder instead of ``train``/``test``.
        blurry_dir: ``blur`` (or ``blur_gamma``); sharp_dir: ``sharp``.
    """
    return _paired_layout("gopro", root, split, {"subset": subset, "blurry_dir": blurry_dir, "sharp_dir": sharp_dir}, common)


def realblur(root: str, split: str, subset: str | None = None, list_file: str | None = None, **common: Any) -> PairedFolderDataset:
    """RealBlur: a list file of ``gt/… blur/…`` pairs per line, paths relative to ``root``.

    Args:
        root: the RealBlur folder.
        subset: ``train``/``test`` part of the default list names.
        list_file: the list, relative to ``root`` (default ``RealBlur_J_<part>_list.txt`` or ``RealBlur_R_…``).
    """
    return _paired_layout("realblur", root, split, {"subset": subset, "list_file": list_file}, common)


def dpdd(root: str, split: str, subset: str | None = None, **common: Any) -> PairedFolderDataset:
    """DPDD: ``root/{train_c,val_c,test_c}/{source,target}/NAME.png`` (single-image input ``source``).

    Args:
        root: the DPDD folder.
        subset: split folder instead of ``train_c``/``val_c``/``test_c``.
    """
    return _paired_layout("dpdd", root, split, {"subset": subset}, common)


def lfdof(root: str, split: str, subset: str | None = None, **common: Any) -> PairedFolderDataset:
    """LFDOF: ``root/{train_data,test_data}/{input,ground_truth}``; ``input/<scene>/*.png`` pair
    with ``ground_truth/<scene>.png`` (flat ``input/NAME.png`` with ``ground_truth/NAME.png``).

    Args:
        root: the LFDOF folder.
        subset: split folder instead of ``train_data``/``test_data``.
    """
    return _paired_layout("lfdof", root, split, {"subset": subset}, common)


def synthetic(
    root: str,
    split: str,
    degradations: list[Degradation],
    length: int | None = None,
    **common: Any,
) -> SyntheticDataset:
    """Any folder of sharp images (searched recursively), degraded on the fly, seeded.

    Args:
        root: folder of sharp images; ``bundled:train`` / ``bundled:demo`` are the photographs
            shipped with restorekit (:mod:`restorekit.data.samples`).
        degradations: the degradation chain, e.g. ``[{type: motion_bf, max_len: [10, 25]},
            {type: noise, sigma: [0, 0.02]}]`` (see :mod:`restorekit.data.settings`).
        length: samples per epoch (default: the number of images).
    """
    if not degradations:
        raise ConfigError(f"data.{split}: a synthetic dataset needs `degradations:` (e.g. [{{type: motion_bf}}])")
    folder = require_dir(resolve_root(root), f"synthetic dataset ({split})")
    files = image_files(folder, recursive=True)
    if not files:
        raise InputError(f"synthetic dataset ({split}): no images under '{folder}'")
    return SyntheticDataset(files, degradations, length=length, **common)


DATASETS = {
    "paired": paired,
    "gopro": gopro,
    "realblur": realblur,
    "dpdd": dpdd,
    "lfdof": lfdof,
    "synthetic": synthetic,
}

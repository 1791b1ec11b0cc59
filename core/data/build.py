"""``build_dataset``: a dataset from the ``data:`` section of a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, InputError
from ..schema import dataclass_schema
from .datasets import LAYOUTS, DeblurDataset, PairedFolderDataset, SyntheticDataset, image_files, require_dir
from .settings import DatasetSettings, check_degradation

SPLITS = ("train", "val", "test")


def dataset_settings(data_cfg: Mapping[str, Any], split: str) -> dict[str, Any]:
    """The validated settings of ``data.<split>`` with defaults filled in."""
    if split not in SPLITS:
        raise ConfigError(f"unknown data split '{split}'; use one of {', '.join(SPLITS)}")
    if not isinstance(data_cfg, Mapping):
        raise ConfigError(f"data: expected a mapping with {', '.join(SPLITS)} entries, got {type(data_cfg).__name__}")
    spec = data_cfg.get(split)
    if spec is None:
        raise ConfigError(
            f"data.{split} is not set; add e.g. `data: {{{split}: {{type: synthetic, root: IMAGES, "
            f"degradations: [{{type: motion_bf}}]}}}}` to the config"
        )
    if isinstance(spec, Mapping) and isinstance(spec.get("degradations"), list):
        for i, deg in enumerate(spec["degradations"]):  # first, for messages with the full key path
            check_degradation(deg, f"data.{split}.degradations[{i}]")
    schema = dataclass_schema(DatasetSettings, "a dataset")
    checked = schema.validate(spec, f"data.{split}")
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in schema.defaults().items()}
    cfg.update(checked)
    return cfg


def build_dataset(data_cfg: Mapping[str, Any], split: str, seed: int = 0) -> DeblurDataset:
    """Build the dataset of ``data.<split>``.

    Args:
        data_cfg: the ``data:`` section (``{"train": {...}, "val": {...}, "test": {...}}``).
        split: ``train`` (random crops/flips that change with :meth:`set_epoch`), ``val`` or
            ``test`` (fixed samples).
        seed: the run's seed (added to the dataset's own ``seed``).

    Returns:
        a dataset of dicts ``{"blurry", "sharp", "name", ["kernel"], ["depth", "defocus_radius"]}``; batch
        them with :func:`restorekit.data.collate`.

    Raises:
        ConfigError: bad settings; InputError: missing folders, unpaired files.
    """
    cfg = dataset_settings(data_cfg, split)
    common = dict(
        seed=int(seed) + int(cfg["seed"]),
        train=split == "train",
        crop=cfg["crop"],
        random_crop=cfg["random_crop"],
        flips=cfg["flips"],
        rot90=cfg["rot90"],
        channels=int(cfg["channels"]),
    )
    root = Path(cfg["root"]).expanduser()
    kind = cfg["type"]
    if kind == "synthetic":
        if not cfg["degradations"]:
            raise ConfigError(f"data.{split}: a synthetic dataset needs `degradations:` (e.g. [{{type: motion_bf}}])")
        require_dir(root, f"synthetic dataset ({split})")
        files = image_files(root, recursive=True)
        if not files:
            raise InputError(f"synthetic dataset ({split}): no images under '{root}'")
        return SyntheticDataset(files, cfg["degradations"], length=cfg["length"], **common)
    if cfg["degradations"]:
        raise ConfigError(f"data.{split}.degradations: only `type: synthetic` datasets degrade images; remove it for '{kind}'")
    if cfg["length"] is not None:
        raise ConfigError(f"data.{split}.length: only `type: synthetic` datasets take a length")
    return PairedFolderDataset(LAYOUTS[kind](root, cfg, split), **common)

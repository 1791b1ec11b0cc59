"""``build_dataset``: a dataset from the ``data:`` section of a config.

Datasets are components like any other: plugins register factories with the
``register_datasets(register)`` hook, and ``data.<split>.type`` names one
(``standard.gopro``, ``myplugin.frames``). A factory is called as
``factory(split=…, seed=…, train=…, crop=…, random_crop=…, flips=…, rot90=…, channels=…,
**options)``, where ``options`` are the keys of the YAML entry other than the common ones of
:class:`~restorekit.data.settings.DatasetSettings`, checked against the factory's typed
signature. Subclass :class:`restorekit.data.DeblurDataset` and pass the common keyword
arguments to its ``__init__`` to get seeded crops, flips and epochs for free.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, UnknownComponentError, suggestion_text
from ..registry import ComponentInfo
from ..schema import Schema, dataclass_schema
from .settings import DATASET_RUNTIME_KEYS, SPLITS, DatasetSettings

__all__ = ["BlurMapTarget", "build_dataset", "dataset_info", "dataset_settings", "options_schema"]

_COMMON = {f for f in DatasetSettings.__dataclass_fields__}


def dataset_info(name: str, path: str = "data") -> ComponentInfo:
    """The catalog entry of dataset ``name``; a bare name resolves when exactly one plugin
    registers it (``gopro`` → ``standard.gopro``)."""
    from ..plugin_host import get_host

    host = get_host()
    catalog = host.catalog
    if name in catalog:
        return host.get(name, "dataset")
    if "." not in name:
        matches = [n for n in catalog.names("dataset") if n.split(".", 1)[1] == name]
        if len(matches) == 1:
            return catalog.get(matches[0], "dataset")
        if len(matches) > 1:
            raise ConfigError(f"{path}.type: dataset '{name}' is registered by several plugins ({', '.join(matches)}); write the full name")
    candidates = catalog.names("dataset")
    if "." not in name:  # a bare name is compared with the bare names
        candidates = sorted({n.split(".", 1)[1] for n in candidates})
    hint = host.missing_hint(name) if "." in name else ""
    raise UnknownComponentError(
        f"{path}.type: unknown dataset '{name}'{suggestion_text(name, candidates)}{hint} "
        f"(run 'restorekit components --kind dataset' to list them)"
    )


def options_schema(info: ComponentInfo) -> Schema:
    """The options of a dataset factory: its typed signature without the keys the core passes
    (``split``, ``seed``, ``crop`` …); unknown keys are errors even if it takes ``**common``."""
    opts = {k: o for k, o in info.schema.options.items() if k not in DATASET_RUNTIME_KEYS}
    return Schema(f"dataset {info.name}", opts, accepts_extra=False)  # (the catalog already strips them)


def dataset_settings(data_cfg: Mapping[str, Any], split: str) -> dict[str, Any]:
    """The validated settings of ``data.<split>`` with defaults filled in and ``type`` resolved."""
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
    path = f"data.{split}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{path}: expected a mapping like {{type: gopro, root: DIR}}, got {type(spec).__name__}")
    if "type" not in spec:
        raise ConfigError(f"{path}: missing 'type:' (a registered dataset, e.g. gopro or synthetic; see `restorekit components --kind dataset`)")
    if not isinstance(spec["type"], str):
        raise ConfigError(f"{path}.type: expected a dataset name, got {type(spec['type']).__name__}")
    info = dataset_info(spec["type"], path)
    if isinstance(spec.get("degradations"), list):  # first, for messages with the full key path
        from .settings import check_degradation

        for i, deg in enumerate(spec["degradations"]):
            check_degradation(deg, f"{path}.degradations[{i}]")
    common = dataclass_schema(DatasetSettings, "a dataset")
    own = options_schema(info)
    common_values = {k: v for k, v in spec.items() if k in _COMMON}
    own_values = {k: v for k, v in spec.items() if k not in _COMMON}
    unknown = [k for k in own_values if k not in own.options]
    if unknown:
        valid = sorted(set(own.options) | _COMMON)
        key = str(unknown[0])
        raise ConfigError(
            f"{path}.{key}: unknown option '{key}' for dataset {info.name}{suggestion_text(key, valid)} "
            f"(valid options: {', '.join(valid)})"
        )
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in common.defaults().items()}
    cfg.update(common.validate(common_values, path))
    cfg.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in own.defaults().items()})
    cfg.update(own.validate(own_values, path))
    cfg["type"] = info.name
    if cfg["crop"] is not None and cfg["crop"] < 1:
        raise ConfigError(f"{path}.crop: must be a positive size or null, got {cfg['crop']}")
    if cfg["blur_map_tile"] is not None and cfg["blur_map_tile"] < 1:
        raise ConfigError(f"{path}.blur_map_tile: must be a positive tile size (e.g. 14) or null")
    return cfg


class BlurMapTarget(Dataset):
    """Adds ``blur_map`` ``(1, H/t, W/t)`` (:func:`restorekit.data.laplacian_blur_map`) to each
    sample of a dataset of ``{"blurry", "sharp", …}`` samples; forwards ``set_epoch``."""

    def __init__(self, dataset: Dataset, tile: int) -> None:
        self.dataset = dataset
        self.tile = int(tile)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from .targets import laplacian_blur_map

        sample = dict(self.dataset[index])
        with torch.no_grad():
            sample["blur_map"] = laplacian_blur_map(sample["sharp"], sample["blurry"], self.tile)
        return sample


def build_dataset(data_cfg: Mapping[str, Any], split: str, seed: int = 0) -> Dataset:
    """Build the dataset of ``data.<split>``.

    Args:
        data_cfg: the ``data:`` section (``{"train": {...}, "val": {...}, "test": {...}}``).
        split: ``train`` (random crops/flips that change with ``set_epoch``), ``val`` or
            ``test`` (fixed samples).
        seed: the run's seed (added to the dataset's own ``seed``).

    Returns:
        a dataset of dicts ``{"blurry", "sharp", "name", ["kernel"], ["blur_map"], …}``;
        batch them with :func:`restorekit.data.collate`.

    Raises:
        ConfigError: bad settings; InputError: missing folders, unpaired files.
    """
    cfg = dataset_settings(data_cfg, split)
    info = dataset_info(cfg["type"], f"data.{split}")
    runtime = dict(
        split=split,
        seed=int(seed) + int(cfg["seed"]),
        train=split == "train",
        crop=cfg["crop"],
        random_crop=cfg["random_crop"],
        flips=cfg["flips"],
        rot90=cfg["rot90"],
        channels=int(cfg["channels"]),
    )
    options = {k: v for k, v in cfg.items() if k not in _COMMON}
    try:
        dataset = info.factory(**runtime, **options)
    except TypeError as exc:
        raise ConfigError(
            f"data.{split}: dataset {info.name} could not be built ({exc}); a dataset factory must accept "
            f"the keyword arguments {', '.join(DATASET_RUNTIME_KEYS)} (e.g. as **common)"
        ) from exc
    if cfg["blur_map_tile"] is not None:
        dataset = BlurMapTarget(dataset, cfg["blur_map_tile"])
    return dataset

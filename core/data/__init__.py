"""``restorekit.data``: paired-folder and synthetic datasets, augmentation, batching.

>>> from restorekit.data import build_dataset, collate
>>> ds = build_dataset(cfg["data"], "train", seed=0); ds.set_epoch(3)
>>> batch = collate([ds[0], ds[1]])      # {"blurry": (2,C,H,W), "sharp": …, "kernel"?: (2,1,h,w)}

Submodules load lazily so that :mod:`restorekit.data.settings` (the ``data:`` schema) can be
registered by the config module without importing the datasets.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_dataset": "build",
    "BlurMapTarget": "build",
    "dataset_settings": "build",
    "collate": "collate",
    "collate_kernels": "collate",
    "DeblurDataset": "datasets",
    "PairedFolderDataset": "datasets",
    "SyntheticDataset": "datasets",
    "LAYOUTS": "datasets",
    "degrade": "synthetic",
    "paired_augment": "augment",
    "sample_generator": "augment",
    "DatasetSettings": "settings",
    "check_degradation": "settings",
    "DEGRADATION_TYPES": "settings",
    "laplacian_blur_map": "targets",
    "luminance": "targets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'restorekit.data' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

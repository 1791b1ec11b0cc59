"""The training engine: ``restorekit.engine``.

* :class:`~restorekit.engine.settings.TrainSettings` — the ``train:`` YAML section;
* :class:`~restorekit.engine.trainer.Trainer` — stages, AMP, EMA, checkpoints, DDP;
* :mod:`~restorekit.engine.commands` — the ``restorekit train`` command.

Only :mod:`.settings` is imported eagerly (the config loader needs it); the rest loads on
first attribute access so that ``import restorekit`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import settings
from .settings import StageSettings, TrainSettings

__all__ = ["StageSettings", "TrainSettings", "Trainer", "train", "settings"]

_LAZY = {"Trainer": "trainer", "train": "trainer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'restorekit.engine' has no attribute '{name}'")

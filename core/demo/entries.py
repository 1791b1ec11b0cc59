"""What ``restorekit demo`` runs: the bundled pipelines that plugins register with ``demo=True``.

The core names no method: each plugin registers its own rows through ``register_pipelines``
(see :mod:`restorekit.bundled`), e.g.::

    @restorekit.hookimpl
    def register_pipelines(register):
        register("wiener", pipeline=PATH, task="nonblind", label="Wiener filter", paper="classical", demo=True)
        register("tiny", weights=WEIGHTS, label="My net tiny", paper="MyNet 2026", demo=True)
"""

from __future__ import annotations

from typing import Any

from ..bundled import BLIND_TASKS, BundledPipeline, bundled_pipelines

__all__ = ["BLIND_TASKS", "DemoEntry", "collect_entries"]

DemoEntry = BundledPipeline
"""A demo row is a bundled pipeline (``name``, ``label``, ``paper``, ``task``, ``pipeline``, ``weights``)."""


def collect_entries(echo: Any = None) -> list[BundledPipeline]:
    """The bundled pipelines registered with ``demo=True``, sorted by ``(order, name)``; a plugin
    whose hook fails is reported (one line) and skipped."""
    rows = [e for e in bundled_pipelines(echo).values() if e.demo and e.task is not None]
    return sorted(rows, key=lambda e: (e.order, e.name))

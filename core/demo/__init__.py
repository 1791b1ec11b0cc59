"""``restorekit.demo``: the main job, ``restorekit demo``, built from rows that plugins register.

>>> from restorekit.demo import run_demo
>>> rows = run_demo(Path("demo_out"))     # figure.png, results.md, results.csv, images, PSFs
"""

from __future__ import annotations

from .entries import BLIND_TASKS, DemoEntry, collect_entries
from .run import DemoRow, add_commands, run_demo

__all__ = ["BLIND_TASKS", "DemoEntry", "DemoRow", "add_commands", "collect_entries", "run_demo"]

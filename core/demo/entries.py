"""What ``restorekit demo`` runs: rows contributed by plugins through ``register_demos``.

The core names no method: every plugin registers its own demo rows, e.g.::

    @restorekit.hookimpl
    def register_demos(register):
        register("hqs", label="Krishnan–Fergus HQS", paper="SVMAP baselines", task="nonblind",
                 pipeline=Path(__file__).parent / "demo" / "hqs.yaml")
        register("tiny", weights=Path(__file__).parent / "weights" / "tiny.safetensors")

A row with ``weights`` and no ``pipeline`` takes the pipeline, task and label from the model
card inside the weights file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError

__all__ = ["BLIND_TASKS", "DemoEntry", "collect_entries"]

BLIND_TASKS = ("motion", "defocus", "motion+defocus")
TASKS = ("nonblind", *BLIND_TASKS)


@dataclass
class DemoEntry:
    """One method of the demo.

    Attributes:
        name: ``<plugin>.<name>``.
        label: the method's name in the figure and the table.
        paper: the paper (or family) it comes from, shown in the table.
        task: ``nonblind`` (runs on the scenes with a known PSF) or a blind task (runs on the
            camera-shake and defocus scenes without their PSF).
        pipeline: a pipeline config (mapping) or YAML path.
        weights: a weights file, or ``None`` for methods without learned parameters.
        overrides: dotted overrides applied to the pipeline.
        order: rows are sorted by ``(order, name)``.
    """

    name: str
    label: str
    paper: str
    task: str
    pipeline: Mapping[str, Any] | str | Path
    weights: Path | None = None
    overrides: list[str] = field(default_factory=list)
    order: int = 100

    @property
    def blind(self) -> bool:
        return self.task in BLIND_TASKS


def _entry(plugin: str, name: str, label: str | None, paper: str | None, task: str | None, pipeline: Any, weights: Any,
           overrides: list[str] | None, order: int) -> DemoEntry:
    full = f"{plugin}.{name}"
    card = None
    if weights is not None:
        from ..weights import read_card

        weights = Path(weights)
        if not weights.is_file():
            raise ConfigError(f"demo row '{full}': weights '{weights}' do not exist")
        card = read_card(weights)
    if pipeline is None:
        if card is None:
            raise ConfigError(f"demo row '{full}' gives neither a pipeline nor weights with a model card")
        pipeline = card.pipeline
    task = task or (card.task if card is not None else None)
    if task not in TASKS:
        raise ConfigError(f"demo row '{full}': task must be one of {', '.join(TASKS)}, got {task!r}")
    return DemoEntry(
        name=full, label=label or (card.name if card is not None else full), paper=paper or plugin, task=task,
        pipeline=pipeline, weights=weights, overrides=list(overrides or []), order=order,
    )


def collect_entries(echo: Any = None) -> list[DemoEntry]:
    """Every demo row registered by a healthy plugin, sorted; a plugin whose hook fails is
    reported (one line) and skipped."""
    from ..plugin_host import get_host

    host = get_host()
    entries: list[DemoEntry] = []
    say = echo or (lambda msg: print(msg, file=sys.stderr))
    for impl in host.pm.hook.register_demos.get_hookimpls():
        plugin = impl.plugin_name
        found: list[DemoEntry] = []

        def register(name: str, *, label: str | None = None, paper: str | None = None, task: str | None = None,
                     pipeline: Any = None, weights: Any = None, overrides: list[str] | None = None, order: int = 100,
                     _plugin: str = plugin, _found: list[DemoEntry] = found) -> DemoEntry:
            entry = _entry(_plugin, name, label, paper, task, pipeline, weights, overrides, order)
            _found.append(entry)
            return entry

        try:
            impl.function(register=register)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not break the demo
            say(f"warning: plugin '{plugin}' failed to register its demo rows: {exc}")
            continue
        entries += found
    return sorted(entries, key=lambda e: (e.order, e.name))

"""Bundled pipelines: what ``--pipeline NAME``, ``restorekit pipelines`` and ``restorekit demo`` know.

Three sources, one namespace:

* every YAML file shipped in :mod:`restorekit.pipelines` (the project's ``pipelines/`` folder),
  by file stem: ``--pipeline tiny`` for ``pipelines/tiny.yaml``;
* every bundled weights file a plugin registers with ``register_weights`` (its model card holds
  the pipeline): ``--pipeline myplugin.tiny``;
* pipelines a plugin registers with ``register_pipelines(register)``::

      register("wiener", pipeline=PATH_OR_CONFIG, task="nonblind", label="Wiener filter",
               paper="classical", metrics={"heldout_nonblind_psnr": 23.1}, demo=True)

  with or without ``weights=`` (a weights file's card fills what is not given).

Defaults of ``restorekit deblur`` are chosen from measurements, never by name:
:func:`default_pipeline` picks, among the registered pipelines of a task family, the one whose
recorded metrics are best — blind: the mean of ``heldout_motion_psnr`` and
``heldout_defocus_psnr`` (both required); non-blind: ``heldout_nonblind_psnr`` — preferring
pipelines that beat the blurry input (``heldout_<kind>_input_psnr``) on every blur type. The metrics come
from ``benchmarks/bundled_models.py`` (one held-out benchmark for all) and are stored in the
model cards (or given at registration for weight-free pipelines).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, InputError, suggestion_text

__all__ = [
    "BLIND_TASKS",
    "BundledPipeline",
    "TASKS",
    "bundled_pipelines",
    "default_pipeline",
    "get_bundled",
    "shipped_yaml",
]

BLIND_TASKS = ("motion", "defocus", "motion+defocus")
TASKS = ("nonblind", *BLIND_TASKS)
BLIND_SCORE_KEYS = ("heldout_motion_psnr", "heldout_defocus_psnr")
NONBLIND_SCORE_KEY = "heldout_nonblind_psnr"


@dataclass
class BundledPipeline:
    """A pipeline that ships with an installed plugin (or with restorekit).

    Attributes:
        name: ``<plugin>.<name>`` for registered ones, the file stem for shipped YAML files.
        pipeline: a pipeline config (mapping) or a YAML path.
        task: ``nonblind`` (needs a PSF), ``motion``, ``defocus`` or ``motion+defocus``;
            ``None`` for a shipped YAML file nobody described.
        weights: the weights file, or ``None`` (classical solvers, untrained YAML files).
        label: display name (figure, tables).
        paper: the paper or family it comes from.
        metrics: measured numbers (see the module docstring for the keys used for defaults).
        demo: show it in ``restorekit demo``.
        order: sort key of the demo rows.
        summary: one line for ``restorekit pipelines``.
    """

    name: str
    pipeline: Mapping[str, Any] | str | Path
    task: str | None = None
    weights: Path | None = None
    label: str = ""
    paper: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    demo: bool = False
    order: int = 100
    summary: str = ""

    @property
    def blind(self) -> bool:
        return self.task in BLIND_TASKS

    def score(self, family: str) -> float | None:
        """The default-selection score for ``family`` (``blind`` or ``nonblind``), or ``None``."""
        if family == "blind":
            if not self.blind or any(k not in self.metrics for k in BLIND_SCORE_KEYS):
                return None
            return sum(float(self.metrics[k]) for k in BLIND_SCORE_KEYS) / len(BLIND_SCORE_KEYS)
        if self.task != "nonblind" or NONBLIND_SCORE_KEY not in self.metrics:
            return None
        return float(self.metrics[NONBLIND_SCORE_KEY])

    def beats_inputs(self, family: str) -> bool:
        """Whether the recorded metrics beat the blurry inputs on *every* blur type of
        ``family`` (``heldout_<kind>_input_psnr``; ``True`` when those are not recorded)."""
        keys = BLIND_SCORE_KEYS if family == "blind" else (NONBLIND_SCORE_KEY,)
        for k in keys:
            ref = self.metrics.get(k.replace("_psnr", "_input_psnr"))
            if ref is not None and k in self.metrics and float(self.metrics[k]) <= float(ref):
                return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "task": self.task, "label": self.label, "paper": self.paper,
            "weights": str(self.weights) if self.weights else None, "metrics": dict(self.metrics),
            "demo": self.demo, "summary": self.summary,
            "pipeline": str(self.pipeline) if isinstance(self.pipeline, (str, Path)) else "(config)",
        }

    def build(self, overrides: list[str] | None = None) -> Any:
        """The built pipeline with its weights loaded (eval mode)."""
        from .pipeline import load_pipeline
        from .weights import load_weights

        pipe = load_pipeline(self.pipeline, overrides=overrides or None)
        if self.weights is not None:
            load_weights(pipe, self.weights)
        return pipe.eval()


def shipped_yaml() -> dict[str, Path]:
    """File stem → path of every pipeline YAML shipped in :mod:`restorekit.pipelines`."""
    try:
        from importlib import resources

        root = resources.files("restorekit.pipelines")
    except ModuleNotFoundError:  # pragma: no cover - an installation without the pipelines package
        return {}
    out: dict[str, Path] = {}
    for item in root.iterdir():
        if item.name.endswith(".yaml"):
            out[item.name[: -len(".yaml")]] = Path(str(item))
    return dict(sorted(out.items()))


def _from_weights(entry: Any) -> BundledPipeline:
    card = entry.card
    metrics = dict(card.metrics) if card else {}
    return BundledPipeline(
        name=entry.name, pipeline=card.pipeline if card else {}, task=card.task if card else None,
        weights=entry.path, label=entry.name, paper=entry.plugin, metrics=metrics,
        summary=(f"{card.task} model, {card.steps} steps, validation {card.val_psnr:.2f} dB"
                 if card and card.val_psnr is not None else "bundled weights"),
    )


def _registered(echo: Any = None) -> dict[str, BundledPipeline]:
    from .plugin_host import get_host

    host = get_host()
    say = echo or (lambda m: print(m, file=sys.stderr))
    out: dict[str, BundledPipeline] = {}
    for name, entry in host.weights.items():
        if entry.card is not None:
            out[name] = _from_weights(entry)
    for impl in host.pm.hook.register_pipelines.get_hookimpls():
        plugin = impl.plugin_name
        found: dict[str, BundledPipeline] = {}

        def register(name: str, pipeline: Any = None, *, weights: Any = None, task: str | None = None,
                     label: str = "", paper: str = "", metrics: Mapping[str, float] | None = None,
                     demo: bool = False, order: int = 100, summary: str = "",
                     _plugin: str = plugin, _found: dict[str, BundledPipeline] = found) -> BundledPipeline:
            full = f"{_plugin}.{name}"
            base = out.get(full)
            if weights is not None:
                from .weights import WeightsEntry, read_card

                w = Path(weights)
                if not w.is_file():
                    raise ConfigError(f"bundled pipeline '{full}': weights '{w}' do not exist")
                base = _from_weights(WeightsEntry(full, _plugin, w, read_card(w)))
            if pipeline is None and (base is None or not base.pipeline):
                raise ConfigError(f"bundled pipeline '{full}' gives neither a pipeline nor weights with a model card")
            entry = BundledPipeline(
                name=full,
                pipeline=pipeline if pipeline is not None else base.pipeline,  # type: ignore[union-attr]
                task=task or (base.task if base else None),
                weights=base.weights if base else None,
                label=label or (base.label if base else full),
                paper=paper or (base.paper if base else _plugin),
                metrics={**(base.metrics if base else {}), **dict(metrics or {})},
                demo=demo, order=order, summary=summary or (base.summary if base else ""),
            )
            if entry.task not in TASKS:
                raise ConfigError(f"bundled pipeline '{full}': task must be one of {', '.join(TASKS)}, got {entry.task!r}")
            _found[full] = entry
            return entry

        try:
            impl.function(register=register)
        except Exception as exc:  # noqa: BLE001 - one plugin must not break the others
            say(f"warning: plugin '{plugin}' failed to register its bundled pipelines: {exc}")
            continue
        out.update(found)
    return out


def bundled_pipelines(echo: Any = None) -> dict[str, BundledPipeline]:
    """Every bundled pipeline: the shipped YAML files, then the plugins' registrations."""
    out = {stem: BundledPipeline(name=stem, pipeline=path, label=stem, summary="pipeline YAML (untrained unless it says otherwise)")
           for stem, path in shipped_yaml().items()}
    out.update(_registered(echo))
    return out


def get_bundled(name: str) -> BundledPipeline:
    """The bundled pipeline called ``name`` (with "did you mean")."""
    entries = bundled_pipelines()
    if name not in entries:
        raise InputError(
            f"no bundled pipeline named '{name}'{suggestion_text(name, list(entries))} "
            f"(`restorekit pipelines` lists them; or give the path of a pipeline YAML)"
        )
    return entries[name]


def default_pipeline(family: str) -> BundledPipeline:
    """The measured best bundled pipeline of ``family`` (``blind`` or ``nonblind``)."""
    if family not in ("blind", "nonblind"):
        raise ValueError(f"family must be 'blind' or 'nonblind', got {family!r}")
    scored = [(e.score(family), e) for e in bundled_pipelines().values()]
    scored = [(s, e) for s, e in scored if s is not None]
    if not scored:
        need = " and ".join(BLIND_SCORE_KEYS) if family == "blind" else NONBLIND_SCORE_KEY
        raise ConfigError(
            f"no installed plugin bundles a {family} pipeline with measured {need}; pass --pipeline FILE|NAME "
            f"(`restorekit pipelines` lists the bundled ones)"
        )
    # A default must help on every blur type it is used for: a pipeline that beats the blurry
    # input on all of them outranks one with a higher mean that makes one type worse.
    return max(scored, key=lambda se: (se[1].beats_inputs(family), se[0], se[1].name))[1]

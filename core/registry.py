"""The component catalog: every registered component with its kind, plugin and schema.

Plugins register *short* names (``"l1"``) through the hooks of :mod:`restorekit.hookspecs`;
the catalog stores them under ``"<plugin>.<name>"`` (``"standard.l1"``), the name used in
YAML. Modelled on timm's ``list_models``: a flat, searchable list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import ConfigError, PluginError, UnknownComponentError, suggestion_text
from .schema import Schema, schema_of

KINDS: tuple[str, ...] = (
    "encoder",
    "blur_estimator",
    "decoder",
    "operator",
    "loss",
    "dataset",
    "metric",
)
"""The kinds of things a plugin can register."""

KIND_ALIASES = {
    "encoders": "encoder",
    "blur_estimators": "blur_estimator",
    "estimator": "blur_estimator",
    "decoders": "decoder",
    "operators": "operator",
    "losses": "loss",
    "datasets": "dataset",
    "metrics": "metric",
}


def normalise_kind(kind: str) -> str:
    k = kind.replace("-", "_").lower()
    k = KIND_ALIASES.get(k, k)
    if k not in KINDS:
        raise ConfigError(f"unknown component kind '{kind}'{suggestion_text(k, KINDS)} (kinds: {', '.join(KINDS)})")
    return k


@dataclass
class ComponentInfo:
    """One catalog entry."""

    name: str
    kind: str
    factory: Callable[..., Any]
    plugin: str
    plugin_version: str
    summary: str
    schema: Schema = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
            "summary": self.summary,
            "options": self.schema.as_dict(),
        }


def _summary_of(factory: Callable[..., Any]) -> str:
    doc = (getattr(factory, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


class Catalog:
    """Name → :class:`ComponentInfo`, plus what failed to register."""

    def __init__(self) -> None:
        self._entries: dict[str, ComponentInfo] = {}

    def add(
        self,
        kind: str,
        plugin: str,
        plugin_version: str,
        name: str,
        factory: Callable[..., Any],
        summary: str | None = None,
    ) -> ComponentInfo:
        kind = normalise_kind(kind)
        if not name or not isinstance(name, str):
            raise PluginError(f"plugin '{plugin}' registered a {kind} with an empty or non-string name {name!r}")
        if "." in name:
            ns, _, short = name.partition(".")
            if ns != plugin:
                raise PluginError(
                    f"plugin '{plugin}' registered '{name}', outside its namespace; register the "
                    f"short name '{short}' (it becomes '{plugin}.{short}')"
                )
            name = short
        full = f"{plugin}.{name}"
        if full in self._entries:
            prev = self._entries[full]
            raise PluginError(
                f"duplicate component name '{full}': registered by plugin '{prev.plugin}' "
                f"(version {prev.plugin_version}) and again by plugin '{plugin}' (version "
                f"{plugin_version}); uninstall one of them or disable it with "
                f"RESTOREKIT_DISABLE_PLUGINS"
            )
        schema = schema_of(factory, full)
        if kind == "dataset":
            # the keyword arguments the core passes to every dataset are not the dataset's options
            from .data.settings import DATASET_RUNTIME_KEYS

            schema = Schema(full, {k: o for k, o in schema.options.items() if k not in DATASET_RUNTIME_KEYS}, accepts_extra=False)
        info = ComponentInfo(
            name=full,
            kind=kind,
            factory=factory,
            plugin=plugin,
            plugin_version=plugin_version,
            summary=summary if summary is not None else _summary_of(factory),
            schema=schema,
        )
        self._entries[full] = info
        return info

    def remove_plugin(self, plugin: str) -> None:
        for key in [k for k, v in self._entries.items() if v.plugin == plugin]:
            del self._entries[key]

    def get(self, name: str, kind: str | None = None, missing_hint: Callable[[str], str] | None = None) -> ComponentInfo:
        """The entry for ``name``; an :class:`UnknownComponentError` with suggestions otherwise."""
        info = self._entries.get(name)
        if info is None:
            candidates = [n for n, i in self._entries.items() if kind is None or i.kind == kind]
            hint = missing_hint(name) if missing_hint else ""
            what = f"{kind.replace('_', ' ')} " if kind else ""
            raise UnknownComponentError(
                f"unknown {what}component '{name}'{suggestion_text(name, candidates)}{hint} "
                f"(run 'restorekit components{' --kind ' + kind if kind else ''}' to list them)"
            )
        if kind is not None and info.kind != kind:
            raise UnknownComponentError(
                f"component '{name}' is a {info.kind.replace('_', ' ')}, not a {kind.replace('_', ' ')}; "
                f"put it under the matching key"
            )
        return info

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[ComponentInfo]:
        return iter(sorted(self._entries.values(), key=lambda i: (i.kind, i.name)))

    def names(self, kind: str | None = None) -> list[str]:
        return [i.name for i in self if kind is None or i.kind == kind]

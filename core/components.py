"""Creating components by name: ``restorekit.create`` and ``restorekit.list_components``."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .plugin_host import get_host
from .registry import ComponentInfo, normalise_kind


def create(name: str, *, kind: str | None = None, _path: str | None = None, **options: Any) -> Any:
    """Build one component from its YAML name, e.g. ``create("standard.convolution", boundary="valid")``.

    Options are checked against the component's typed constructor first, so a misspelt
    or mistyped option fails with the option's name and the nearest valid one.

    Raises:
        UnknownComponentError: ``name`` is not in the catalog (with suggestions).
        ConfigError: an option is unknown, missing or of the wrong type.
    """
    info = get_host().get(name, normalise_kind(kind) if kind else None)
    path = _path or name
    values = info.schema.validate(options, path)
    try:
        return info.factory(**values)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: could not build '{name}': {exc}") from exc


def component_info(name: str) -> ComponentInfo:
    """The catalog entry of ``name`` (kind, plugin, version, schema)."""
    return get_host().get(name)


def list_components(kind: str | None = None) -> list[dict[str, Any]]:
    """The catalog as a list of dicts (name, kind, plugin, plugin_version, summary, options)."""
    k = normalise_kind(kind) if kind else None
    return [i.as_dict() for i in get_host().catalog if k is None or i.kind == k]

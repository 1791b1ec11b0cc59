"""The pluggy plugin host: discovers plugins, isolates broken ones, fills the catalog.

Discovery follows simonw/llm and tox: plugins are entry points in the group ``restorekit``
(the built-in ``standard``, ``nrknet`` … plugins too). Each entry point is loaded on its
own, so one that raises at import (or while registering) is recorded with its error and
the others keep working.

Environment switches:

* ``RESTOREKIT_PLUGINS=a,b``: load only these plugins (allow-list);
* ``RESTOREKIT_DISABLE_PLUGINS=a,b``: skip these (block-list);
* ``RESTOREKIT_STRICT_PLUGINS=1``: any plugin error raises :class:`PluginError`.

A name in the allow- or block-list that is not an installed plugin gets a
:class:`~restorekit.errors.RestorekitWarning` with the nearest installed name.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Catalog, ComponentInfo


@dataclass
class PluginStatus:
    """What happened to one plugin."""

    name: str
    version: str
    distribution: str
    module: str
    status: str  # "ok" | "error" | "disabled"
    error: str = ""
    components: list[str] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "components": list(self.components),
        }


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def strict_mode() -> bool:
    return os.environ.get("RESTOREKIT_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


class PluginHost:
    """Loads plugins into a :class:`pluggy.PluginManager` and a :class:`Catalog`."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.catalog = Catalog()
        self.plugins: dict[str, PluginStatus] = {}
        self.weights: dict[str, Any] = {}  # "<plugin>.<name>" → restorekit.weights.WeightsEntry
        self.warnings: list[str] = []  # e.g. unknown names in the environment switches

    # -- discovery ----------------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Load every entry point of the group, one at a time, honouring the env switches."""
        allow = _env_list("RESTOREKIT_PLUGINS")
        block = _env_list("RESTOREKIT_DISABLE_PLUGINS") or set()
        eps = sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name)
        self._warn_unknown_names({e.name for e in eps}, allow, block)
        for ep in eps:
            dist = getattr(ep, "dist", None)
            version = dist.version if dist is not None else "0"
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            if (allow is not None and ep.name not in allow) or ep.name in block:
                why = "not in RESTOREKIT_PLUGINS" if allow is not None and ep.name not in allow else "in RESTOREKIT_DISABLE_PLUGINS"
                self._record(PluginStatus(ep.name, version, dist_name, ep.value, "disabled", detail=why))
                continue
            try:
                obj = ep.load()
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything at import
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                self._record(
                    PluginStatus(
                        ep.name, version, dist_name, ep.value, "error",
                        error=f"{type(exc).__name__}: {exc}", detail=traceback.format_exc(),
                    )
                )
                continue
            self.register_plugin(ep.name, obj, version=version, distribution=dist_name, module=ep.value)
        self.check_strict()

    def _warn_unknown_names(self, installed: set[str], allow: set[str] | None, block: set[str]) -> None:
        """A name in ``RESTOREKIT_PLUGINS`` / ``RESTOREKIT_DISABLE_PLUGINS`` that no installed
        plugin has is most likely a typo: warn with the nearest installed name."""
        import warnings

        from .errors import RestorekitWarning, suggestion_text

        for var, names in (("RESTOREKIT_PLUGINS", allow or set()), ("RESTOREKIT_DISABLE_PLUGINS", block)):
            for name in sorted(names - installed):
                text = (
                    f"{var} names '{name}', which is not an installed plugin{suggestion_text(name, installed)} "
                    f"(installed: {', '.join(sorted(installed)) or 'none'})"
                )
                self.warnings.append(text)
                warnings.warn(text, RestorekitWarning, stacklevel=4)

    def check_strict(self) -> None:
        if strict_mode():
            bad = [p for p in self.plugins.values() if p.status == "error"]
            if bad:
                lines = "; ".join(f"{p.name} ({p.distribution} {p.version}): {p.error}" for p in bad)
                raise PluginError(
                    f"RESTOREKIT_STRICT_PLUGINS is set and {len(bad)} plugin(s) failed: {lines}. "
                    f"Fix or uninstall them, or disable them with RESTOREKIT_DISABLE_PLUGINS"
                )

    def _record(self, status: PluginStatus) -> None:
        if status.name in self.plugins and self.plugins[status.name].status == "ok" and status.status != "disabled":
            prev = self.plugins[status.name]
            status = PluginStatus(
                status.name, status.version, status.distribution, status.module, "error",
                error=(
                    f"duplicate plugin name '{status.name}': provided by distribution "
                    f"'{prev.distribution}' {prev.version} and by '{status.distribution}' "
                    f"{status.version}; uninstall one of them"
                ),
            )
            self.plugins[f"{status.name} ({status.distribution})"] = status
            return
        self.plugins[status.name] = status

    # -- registration -------------------------------------------------------------------
    def register_plugin(
        self,
        name: str,
        plugin: Any,
        version: str = "0",
        distribution: str = "?",
        module: str = "",
    ) -> PluginStatus:
        """Register a plugin object (a module with hook implementations) under ``name``.

        Any error while registering its components is recorded; its partial registrations
        are rolled back so a half-registered plugin never appears in the catalog.
        """
        status = PluginStatus(name, version, distribution, module or getattr(plugin, "__name__", repr(plugin)), "ok")
        if name in self.plugins and self.plugins[name].status == "ok":
            self._record(status)
            return self.plugins.get(f"{name} ({distribution})", status)
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy validation errors (bad hook signatures …)
            status.status, status.error = "error", f"{type(exc).__name__}: {exc}"
            self._record(status)
            return status
        try:
            for hook_name, kind in hookspecs.HOOK_KINDS.items():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin is plugin:
                        impl.function(register=self._register_callback(kind, status))
            for impl in self.pm.hook.register_weights.get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(register=self._weights_callback(status))
        except Exception as exc:  # noqa: BLE001
            self.catalog.remove_plugin(name)
            for key in [k for k, e in self.weights.items() if e.plugin == name]:
                del self.weights[key]
            self.pm.unregister(plugin)
            status.status = "error"
            status.error = f"{type(exc).__name__}: {exc}"
            status.detail = traceback.format_exc()
            status.components = []
        self._record(status)
        return status

    def _register_callback(self, kind: str, status: PluginStatus) -> Callable[..., ComponentInfo]:
        def register(name: str, factory: Callable[..., Any], summary: str | None = None) -> ComponentInfo:
            info = self.catalog.add(kind, status.name, status.version, name, factory, summary)
            status.components.append(info.name)
            return info

        return register

    def _weights_callback(self, status: PluginStatus) -> Callable[..., Any]:
        from pathlib import Path

        from .weights import WeightsEntry, read_card

        def register(name: str, path: Any) -> Any:
            if not isinstance(name, str) or not name or "." in name:
                raise PluginError(f"plugin '{status.name}' registered weights with an invalid name {name!r} (use a short name like 'tiny')")
            full = f"{status.name}.{name}"
            if full in self.weights:
                raise PluginError(f"duplicate bundled weights name '{full}'")
            p = Path(path)
            if not p.is_file():
                raise PluginError(f"plugin '{status.name}' registered weights '{full}' at '{p}', which does not exist")
            entry = WeightsEntry(name=full, plugin=status.name, path=p, card=read_card(p))
            self.weights[full] = entry
            return entry

        return register

    def command_hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        """``(plugin name, register_commands implementation)`` of healthy plugins."""
        out = []
        for impl in self.pm.hook.register_commands.get_hookimpls():
            out.append((impl.plugin_name, impl.function))
        return out

    # -- look-ups -----------------------------------------------------------------------
    def version_of(self, plugin: str) -> str | None:
        st = self.plugins.get(plugin)
        return st.version if st is not None and st.status == "ok" else None

    def missing_hint(self, name: str) -> str:
        """Why a name in a plugin's namespace might be missing."""
        ns = name.split(".", 1)[0] if "." in name else ""
        st = self.plugins.get(ns)
        if st is None:
            if ns:
                return f"; no plugin '{ns}' is installed (install the package that provides it)"
            return "; component names are '<plugin>.<name>'"
        if st.status == "disabled":
            return f"; plugin '{ns}' is installed but disabled ({st.detail})"
        if st.status == "error":
            return f"; plugin '{ns}' failed to load: {st.error}"
        return f"; plugin '{ns}' ({st.version}) provides {', '.join(st.components) or 'nothing'}"

    def get(self, name: str, kind: str | None = None) -> ComponentInfo:
        return self.catalog.get(name, kind, missing_hint=self.missing_hint)


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide host, loading entry points on first use."""
    global _HOST
    if _HOST is None:
        host = PluginHost()
        host.load_entry_points()
        _HOST = host
    return _HOST


def reset_host() -> None:
    """Forget the loaded plugins (tests use this after changing the env switches)."""
    global _HOST
    _HOST = None

"""Named evaluation protocols: colour space, border crop, data range, 8-bit rounding.

A protocol fixes *how* a restored image is compared with its sharp reference, so numbers
from different papers can be reproduced exactly. This module is pure Python (no torch) so
the ``eval:`` config section can be validated cheaply.

Built-in protocols (the choices marked "our choice" are not fixed by a source):

==============  =====  ======  =====  ==========  =====================================================
name            space  border  uint8  data range  source
==============  =====  ======  =====  ==========  =====================================================
``default``     rgb    0       no     1           float comparison of images in [0, 1]
``set3c_levin`` rgb    0       yes    255         specs/benchmarks.md §2.1 steps 6–7 (DPIR protocol)
``gopro``       rgb    0       yes    255         8-bit outputs, as saved by the GoPro test scripts (our choice)
``realblur``    rgb    0       yes    255         as ``gopro``; RealBlur's ECC alignment step is *not* applied (our choice)
``dpdd``        rgb    0       no     1           DPDD targets are 16-bit, compared in float (our choice)
``lfdof``       rgb    0       no     1           as ``dpdd`` (our choice)
``y``           y      0       yes    255         BT.601 luma (MATLAB ``rgb2ycbcr``), super-resolution style
==============  =====  ======  =====  ==========  =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Mapping

from ..errors import ConfigError, suggestion_text

KNOWN_METRICS: tuple[str, ...] = ("psnr", "ssim", "lpips")
"""The built-in metrics; any other name must be a metric registered by a plugin (``plugin.name``)."""


def metric_spec(entry: Any, path: str = "eval.metrics") -> str | dict[str, Any]:
    """Check one ``eval.metrics`` entry: a built-in name, or a registered metric's name or
    ``{type: name, **options}`` (options checked against its constructor). Returns the entry
    (options with defaults filled in)."""
    from ..plugin_host import get_host

    if isinstance(entry, Mapping):
        name = entry.get("type")
        if not isinstance(name, str):
            raise ConfigError(f"{path}: a metric given as a mapping needs 'type: <plugin>.<name>'")
        options = {k: v for k, v in entry.items() if k != "type"}
    elif isinstance(entry, str):
        name, options = entry, None
    else:
        raise ConfigError(f"{path}: expected a metric name or {{type: name, ...}}, got {type(entry).__name__}")
    if name in KNOWN_METRICS:
        if options:
            raise ConfigError(f"{path}: the built-in metric '{name}' takes no options (set them on the protocol: border, color …)")
        return name
    host = get_host()
    candidates = list(KNOWN_METRICS) + host.catalog.names("metric")
    if name not in host.catalog or host.catalog.get(name).kind != "metric":
        hint = host.missing_hint(name) if "." in name else ""
        raise ConfigError(
            f"{path}: unknown metric '{name}'{suggestion_text(name, candidates)}{hint} "
            f"(built-in: {', '.join(KNOWN_METRICS)}; plugin metrics: `restorekit components --kind metric`)"
        )
    info = host.catalog.get(name, "metric")
    checked = info.schema.validate(options or {}, path)
    if options is None:
        return name
    return {"type": name, **{k: v for k, v in info.schema.defaults().items()}, **checked}


def metric_name(entry: str | Mapping[str, Any]) -> str:
    """The name of an ``eval.metrics`` entry (its ``type`` for a mapping)."""
    return entry if isinstance(entry, str) else str(entry["type"])


@dataclass(frozen=True)
class Protocol:
    """How to compare a restored image with its reference.

    Attributes:
        name: the protocol's name.
        color: ``"rgb"`` (all channels) or ``"y"`` (BT.601 studio-swing luma of RGB images).
        border: pixels removed from each side before computing metrics.
        data_range: images in [0, 1] are scaled by this (1 or 255) and it is the PSNR peak
            and the SSIM dynamic range.
        uint8: round ``clip(x, 0, 1) · 255`` to integers before comparing (needs
            ``data_range == 255``), i.e. compare the 8-bit images a method would save.
        metrics: metric names: the built-ins of :data:`KNOWN_METRICS` or registered
            plugin metrics (``plugin.name``; their options live in :attr:`metric_options`).
        metric_options: options of plugin metrics by name (from ``{type: …, **options}``).
    """

    name: str
    color: Literal["rgb", "y"] = "rgb"
    border: int = 0
    data_range: float = 1.0
    uint8: bool = False
    metrics: tuple[str, ...] = ("psnr", "ssim")
    metric_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def options_of(self, metric: str) -> dict[str, Any]:
        """Options of a plugin metric (``{}`` when none were given)."""
        return dict(dict(self.metric_options).get(metric, ()))

    def __post_init__(self) -> None:
        if self.color not in ("rgb", "y"):
            raise ConfigError(f"protocol '{self.name}': color must be 'rgb' or 'y', got {self.color!r}")
        if self.border < 0:
            raise ConfigError(f"protocol '{self.name}': border must be ≥ 0, got {self.border}")
        if self.data_range <= 0:
            raise ConfigError(f"protocol '{self.name}': data_range must be > 0, got {self.data_range}")
        if self.uint8 and self.data_range != 255:
            raise ConfigError(
                f"protocol '{self.name}': uint8 rounding compares 8-bit values, so data_range must be 255 "
                f"(got {self.data_range}); set data_range: 255 or uint8: false"
            )
        for m in self.metrics:
            if m not in KNOWN_METRICS and "." not in m:
                raise ConfigError(
                    f"protocol '{self.name}': unknown metric '{m}'{suggestion_text(m, KNOWN_METRICS)} "
                    f"(built-in: {', '.join(KNOWN_METRICS)}; plugin metrics are named 'plugin.name')"
                )


PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol, *, replace_existing: bool = False) -> None:
    """Add a named protocol (plugins may add their own)."""
    if protocol.name in PROTOCOLS and not replace_existing:
        raise ConfigError(f"protocol '{protocol.name}' is already registered")
    PROTOCOLS[protocol.name] = protocol


for _p in (
    Protocol("default"),
    Protocol("set3c_levin", uint8=True, data_range=255.0),
    Protocol("gopro", uint8=True, data_range=255.0),
    Protocol("realblur", uint8=True, data_range=255.0),
    Protocol("dpdd"),
    Protocol("lfdof"),
    Protocol("y", color="y", uint8=True, data_range=255.0),
):
    register_protocol(_p)


def _frozen(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, Mapping):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    return v


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``, or a :class:`ConfigError` with "did you mean"."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(
            f"unknown evaluation protocol '{name}'{suggestion_text(name, PROTOCOLS)} "
            f"(known protocols: {', '.join(sorted(PROTOCOLS))})"
        ) from None


def protocol_from_settings(settings: Mapping[str, Any] | None) -> Protocol:
    """The protocol an ``eval:`` section describes: the named one with its overrides applied."""
    settings = dict(settings or {})
    base = get_protocol(str(settings.get("protocol") or "default"))
    changes: dict[str, Any] = {}
    for key in ("color", "border", "data_range", "uint8"):
        if settings.get(key) is not None:
            changes[key] = settings[key]
    if settings.get("metrics") is not None:
        entries = list(settings["metrics"])
        changes["metrics"] = tuple(metric_name(e) for e in entries)
        changes["metric_options"] = tuple(
            (str(e["type"]), tuple(sorted((k, _frozen(v)) for k, v in e.items() if k != "type")))
            for e in entries if isinstance(e, Mapping)
        )
    if changes and "data_range" not in changes and "uint8" in changes:
        changes["data_range"] = 255.0 if changes["uint8"] else 1.0
    return replace(base, **changes) if changes else base

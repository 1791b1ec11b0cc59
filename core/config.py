"""YAML pipeline configuration: loading, validation, dotted overrides, version pins.

A file looks like::

    requires: {standard: ">=0.1"}          # optional PEP 440 pins of plugin versions
    model:
      encoder: {type: standard.simple_encoder, widths: [16, 32]}
      blur_estimator: {type: standard.given_kernel}     # or a list of estimators
      decoder: {type: standard.unet, width: 16}
      operator: {type: standard.convolution, boundary: circular}
    losses:
      - {type: standard.l1, weight: 1.0}
    data: {...}        # engine sections, validated by their own schemas
    train: {...}
    eval: {...}

Every component's options are checked against its typed constructor (see
:mod:`restorekit.schema`); errors carry the key path and "did you mean".
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import ConfigError, UnknownComponentError, suggestion_text
from .plugin_host import get_host
from .registry import normalise_kind

TOP_LEVEL_KEYS = ("name", "description", "requires", "model", "losses", "data", "train", "eval")
MODEL_KEYS = {
    "encoder": "encoder",
    "blur_estimator": "blur_estimator",
    "decoder": "decoder",
    "operator": "operator",
}
LOSS_RESERVED = ("type", "weight", "name")

SECTION_VALIDATORS: dict[str, str] = {
    "data": "restorekit.data.settings:validate_data_section",
    "train": "restorekit.engine.settings:validate_train_section",
    "eval": "restorekit.metrics.settings:validate_eval_section",
}
"""The one table of section schemas: section → ``module:function`` validating it.

Each validator is ``f(value: Mapping | None) -> dict | None``: it checks the whole section
(types, ranges, names of registered datasets/metrics, with "did you mean") and returns it
resolved with every default filled in, or ``None`` for an absent section that has no
defaults. The modules are imported only when a section is validated, so this module
imports none of the engine, data or metrics packages (no import cycle).
"""


def section_validator(name: str) -> Callable[[Any], dict[str, Any] | None]:
    """The validator of top-level section ``name`` (imported on first use)."""
    import importlib

    target = SECTION_VALIDATORS.get(name)
    if target is None:
        raise ConfigError(f"unknown section '{name}'{suggestion_text(name, list(SECTION_VALIDATORS))}")
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


# ---------------------------------------------------------------------------------------
# Loading and overrides
# ---------------------------------------------------------------------------------------


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (PyYAML would keep
    the last value silently). Still the safe loader: no Python objects are ever built."""


def _construct_unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # the base constructor reports unhashable keys
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name}: duplicate key '{key}' at line {line} (first at line {seen[key]}); "
                f"a key may appear once per mapping — delete or merge one of them"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def yaml_load(text: str, name: str = "<string>") -> Any:
    """Parse YAML text safely, refusing duplicate mapping keys (errors name the line)."""
    loader = UniqueKeyLoader(text)
    loader.name = name  # type: ignore[attr-defined]
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file into a dict, with clear errors for missing, non-UTF-8, malformed files
    and duplicate keys."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"'{p}' is a directory; give the path to a pipeline YAML file inside it (e.g. {p / 'tiny.yaml'})")
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist (give the path to a pipeline YAML, e.g. pipelines/tiny.yaml)")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{p}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}); save the file as UTF-8"
        ) from None
    try:
        data = yaml_load(text, str(p))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=1e-4"`` → ``(["train", "lr"], 0.0001)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value (e.g. train.lr=1e-4)")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml_load(raw, f"override {key}") if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML: {' '.join(str(exc).split())}") from exc
    if isinstance(value, str) and _looks_like_float(value):
        value = float(value)  # PyYAML reads "1e-4" as a string (YAML 1.1 needs "1.0e-4")
    return key.split("."), value


def _looks_like_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return any(c in s.lower() for c in "e.") and s.strip().lower() not in {"nan", "inf", "-inf", "infinity"}


def apply_overrides(config: Mapping[str, Any], overrides: list[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply dotted overrides (``["train.lr=1e-4", "losses.0.weight=2"]`` or a dict)."""
    cfg = copy.deepcopy(dict(config))
    if not overrides:
        return cfg
    items = (
        [parse_override(o) for o in overrides]
        if not isinstance(overrides, Mapping)
        else [(k.split("."), v) for k, v in overrides.items()]
    )
    for keys, value in items:
        node: Any = cfg
        for i, k in enumerate(keys[:-1]):
            node = _step(node, k, keys[: i + 1], create=True)
        last = keys[-1]
        if isinstance(node, list):
            idx = _index(node, last, keys)
            node[idx] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"override {'.'.join(keys)}: '{'.'.join(keys[:-1])}' is a {type(node).__name__}, not a mapping")
    return cfg


def _index(node: list, key: str, keys: list[str]) -> int:
    try:
        idx = int(key)
    except ValueError as exc:
        raise ConfigError(f"override {'.'.join(keys)}: '{key}' must be a list index (0..{len(node) - 1})") from exc
    if not -len(node) <= idx < len(node):
        raise ConfigError(f"override {'.'.join(keys)}: index {idx} out of range (list has {len(node)} items)")
    return idx


def _step(node: Any, key: str, keys: list[str], create: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, key, keys)]
    if isinstance(node, dict):
        if key not in node or node[key] is None:
            if not create:
                raise ConfigError(f"no key {'.'.join(keys)}")
            node[key] = {}
        return node[key]
    raise ConfigError(f"override: '{'.'.join(keys[:-1])}' is a {type(node).__name__}, not a mapping")


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------


def check_requires(requires: Any, path: str = "requires") -> None:
    """Check ``requires:`` pins against installed plugin versions (PEP 440).

    Accepts a mapping ``{plugin: ">=1.0"}`` or a list ``["plugin>=1.0"]``.
    """
    host = get_host()
    pins: list[tuple[str, SpecifierSet]] = []
    if isinstance(requires, Mapping):
        for name, spec in requires.items():
            try:
                pins.append((str(name), SpecifierSet(str(spec) if spec is not None else "")))
            except InvalidSpecifier as exc:
                raise ConfigError(f"{path}.{name}: '{spec}' is not a PEP 440 version specifier (e.g. '>=0.1,<2')") from exc
    elif isinstance(requires, list):
        for i, item in enumerate(requires):
            try:
                req = Requirement(str(item))
            except InvalidRequirement as exc:
                raise ConfigError(f"{path}[{i}]: '{item}' is not a requirement like 'nrknet>=0.1'") from exc
            pins.append((req.name, req.specifier))
    else:
        raise ConfigError(f"{path}: expected a mapping {{plugin: specifier}} or a list of 'plugin>=version'")
    for name, spec in pins:
        status = host.plugins.get(name)
        if status is None:
            known = [n for n, s in host.plugins.items() if s.status == "ok"]
            raise ConfigError(f"{path}: plugin '{name}' is required ({spec or 'any version'}) but not installed{suggestion_text(name, known)}")
        if status.status != "ok":
            raise ConfigError(f"{path}: plugin '{name}' is required but {status.status}: {status.error or status.detail}")
        try:
            version = Version(status.version)
        except InvalidVersion as exc:
            raise ConfigError(f"{path}: plugin '{name}' has an invalid version '{status.version}'") from exc
        if spec and not spec.contains(version, prereleases=True):
            raise ConfigError(
                f"{path}: plugin '{name}' {status.version} is installed but the config requires "
                f"'{name}{spec}'; install a matching version"
            )


def _component(spec: Any, kind: str, path: str, reserved: tuple[str, ...] = ("type",)) -> dict[str, Any]:
    """Validate one ``{type: name, **options}`` block and return it with defaults filled in."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{path}: expected a mapping with a 'type:' key, got {type(spec).__name__}")
    if "type" not in spec:
        near = [str(k) for k in spec if suggestion_text(str(k), ["type"])]
        close = f"; did you mean 'type' instead of '{near[0]}'?" if near else ""
        raise ConfigError(f"{path}: missing 'type:' (the component name, e.g. standard.l1){close}")
    name = spec["type"]
    if not isinstance(name, str):
        raise ConfigError(f"{path}.type: expected a component name string, got {type(name).__name__}")
    host = get_host()
    try:
        info = host.get(name, kind)
    except UnknownComponentError as exc:
        raise UnknownComponentError(f"{path}.type: {exc}") from None
    options = {k: v for k, v in spec.items() if k not in reserved}
    checked = info.schema.validate(options, path)
    resolved = {"type": name}
    for k in reserved:
        if k != "type" and k in spec:
            resolved[k] = spec[k]
    defaults = info.schema.defaults()
    resolved.update({k: _plain(v) for k, v in defaults.items()})
    resolved.update(checked)
    return resolved


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return list(v)
    return v


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a whole config; returns the *resolved* config (all defaults filled in).

    Raises:
        ConfigError: with the key path and a "did you mean" suggestion.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"a pipeline config must be a mapping, got {type(config).__name__}")
    for key in config:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(
                f"unknown top-level key '{key}'{suggestion_text(str(key), TOP_LEVEL_KEYS)} "
                f"(valid keys: {', '.join(TOP_LEVEL_KEYS)})"
            )
    out: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in config:
            if not isinstance(config[key], str):
                raise ConfigError(f"{key}: expected a string")
            out[key] = config[key]
    if config.get("requires") is not None:
        check_requires(config["requires"])
        out["requires"] = copy.deepcopy(config["requires"])

    model = config.get("model")
    if not isinstance(model, Mapping):
        raise ConfigError("model: missing or not a mapping; a pipeline needs at least `model: {decoder: {type: ...}}`")
    for key in model:
        if key not in MODEL_KEYS:
            raise ConfigError(
                f"model.{key}: unknown key{suggestion_text(str(key), list(MODEL_KEYS))} (valid keys: {', '.join(MODEL_KEYS)})"
            )
    if "decoder" not in model:
        raise ConfigError("model: a decoder is required (model.decoder: {type: ...})")
    rmodel: dict[str, Any] = {}
    for key, kind in MODEL_KEYS.items():
        spec = model.get(key)
        if spec is None:
            continue
        if key == "blur_estimator" and isinstance(spec, list):
            rmodel[key] = [_component(s, kind, f"model.{key}[{i}]") for i, s in enumerate(spec)]
        else:
            rmodel[key] = _component(spec, kind, f"model.{key}")
    out["model"] = rmodel

    losses = config.get("losses") or []
    if not isinstance(losses, list):
        raise ConfigError("losses: expected a list of {type: ..., weight: ...} entries")
    rlosses = []
    for i, spec in enumerate(losses):
        entry = _component(spec, "loss", f"losses[{i}]", reserved=LOSS_RESERVED)
        w = entry.setdefault("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise ConfigError(f"losses[{i}].weight: expected a number, got {type(w).__name__} {w!r}")
        if not math.isfinite(w) or w < 0:
            raise ConfigError(
                f"losses[{i}].weight: must be a finite number >= 0, got {w}; a negative weight would reward the "
                f"loss growing (drop the entry, or use weight: 0 to log it without training on it)"
            )
        entry["weight"] = float(w)
        rlosses.append(entry)
    out["losses"] = rlosses

    for section in SECTION_VALIDATORS:
        resolved = section_validator(section)(config.get(section))
        if resolved is not None:
            out[section] = _dataclass_to_plain(resolved)
    _check_across_sections(out)
    return out


def _check_across_sections(resolved: Mapping[str, Any]) -> None:
    """Rules that involve more than one section."""
    stages = (resolved.get("train") or {}).get("stages") or []
    data = resolved.get("data")
    for i, stage in enumerate(stages):
        if stage.get("reload_best") and data is not None and data.get("val") is None:
            raise ConfigError(
                f"train.stages[{i}].reload_best: reloading the best validation weights needs a validation set; "
                f"add data.val (validated every train.val_every steps) or drop reload_best"
            )


def _dataclass_to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _dataclass_to_plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Mapping):
        return {k: _dataclass_to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dataclass_to_plain(v) for v in value]
    return value


def resolve_config(
    source: str | Path | Mapping[str, Any],
    overrides: list[str] | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Load (if a path), apply overrides, validate and fill defaults."""
    raw = load_yaml(source) if isinstance(source, (str, Path)) else copy.deepcopy(dict(source))
    return validate_config(apply_overrides(raw, overrides))


def dump_yaml(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(_dataclass_to_plain(config), sort_keys=False, default_flow_style=None)


def kind_of_model_key(key: str) -> str:
    return normalise_kind(MODEL_KEYS[key])

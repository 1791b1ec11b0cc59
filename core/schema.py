"""Option schemas derived from typed constructors, and a small type checker for YAML values.

A component's schema is its constructor's signature: every keyword parameter with a type
hint and (optionally) a default. YAML values are checked against the hints; ints are
accepted where floats are expected, lists where tuples are expected. Errors name the key
path, the expected type, the value found, and the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Union

from .errors import ConfigError, suggestion_text

_MISSING = inspect.Parameter.empty


@dataclass
class Option:
    """One constructor option."""

    name: str
    annotation: Any
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def type_text(self) -> str:
        return type_name(self.annotation)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type_text(), "required": self.required}
        if not self.required:
            d["default"] = _jsonable(self.default)
        return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


@dataclass
class Schema:
    """The options of one component (or one config section)."""

    owner: str
    options: dict[str, Option]
    accepts_extra: bool = False  # the constructor takes **kwargs

    def as_dict(self) -> dict[str, Any]:
        return {name: opt.as_dict() for name, opt in self.options.items()}

    def validate(self, values: Mapping[str, Any], path: str) -> dict[str, Any]:
        """Check ``values`` against the schema; returns them (ints widened to floats).

        Raises:
            ConfigError: unknown key (with "did you mean"), missing required key, or a
                value of the wrong type.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"{path}: expected a mapping of options, got {type(values).__name__}")
        out: dict[str, Any] = {}
        for key, value in values.items():
            opt = self.options.get(key)
            if opt is None:
                if self.accepts_extra:
                    out[key] = value
                    continue
                valid = sorted(self.options)
                raise ConfigError(
                    f"{path}.{key}: unknown option '{key}' for {self.owner}"
                    f"{suggestion_text(str(key), valid)} (valid options: {', '.join(valid) or 'none'})"
                )
            out[key] = check_type(value, opt.annotation, f"{path}.{key}")
        missing = [n for n, o in self.options.items() if o.required and n not in values]
        if missing:
            raise ConfigError(f"{path}: {self.owner} needs option(s) {', '.join(missing)}")
        return out

    def defaults(self) -> dict[str, Any]:
        return {n: o.default for n, o in self.options.items() if not o.required}


def schema_of(factory: Callable[..., Any], owner: str) -> Schema:
    """Schema of a class (its ``__init__``), a dataclass, or a function."""
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return Schema(owner, {}, accepts_extra=True)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolved forward references: fall back to raw annotations
        hints = {}
    options: dict[str, Option] = {}
    extra = False
    for name, param in sig.parameters.items():
        if name == "self":
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            extra = True
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        ann = hints.get(name, param.annotation)
        options[name] = Option(name, Any if ann is _MISSING else ann, param.default)
    return Schema(owner, options, accepts_extra=extra)


def dataclass_schema(cls: type, owner: str) -> Schema:
    """Schema of a dataclass section (fields with their defaults)."""
    hints = typing.get_type_hints(cls)
    options: dict[str, Option] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = _MISSING
        options[f.name] = Option(f.name, hints.get(f.name, Any), default)
    return Schema(owner, options)


def type_name(ann: Any) -> str:
    """Readable name of a type hint (``list[int]``, ``'a' | 'b'``, ``float | None``)."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if ann is Any:
        return "any"
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin in (list, tuple, dict) or origin in (typing.List, typing.Tuple, typing.Dict):
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]" if args else origin.__name__
    if ann is type(None):
        return "null"
    if isinstance(ann, type):
        return ann.__name__
    return str(ann)


def check_type(value: Any, ann: Any, path: str) -> Any:
    """Return ``value`` if it matches the hint ``ann`` (ints widened to float), else raise."""
    if ann is Any or ann is _MISSING:
        return value
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Literal:
        if value in args:
            return value
        allowed = [a for a in args if isinstance(a, str)]
        hint = suggestion_text(str(value), allowed) if isinstance(value, str) else ""
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(repr(a) for a in args)}{hint}")
    if origin in (Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is not None and len(non_none) == 1:
            return check_type(value, non_none[0], path)  # keeps the inner, more precise message
        errors = []
        for a in args:
            try:
                return check_type(value, a, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{path}: expected {type_name(ann)}, got {_found(value)}")
    if ann is type(None):
        if value is None:
            return None
        raise ConfigError(f"{path}: expected null, got {_found(value)}")
    if ann is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected a boolean (true/false), got {_found(value)}")
    if ann is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected an integer, got {_found(value)}")
    if ann is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{path}: expected a number, got {_found(value)}")
    if ann is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {_found(value)}")
    if ann is Path or (isinstance(ann, type) and issubclass(ann, Path)):
        if isinstance(value, (str, Path)):
            return str(value)
        raise ConfigError(f"{path}: expected a file path (string), got {_found(value)}")
    if origin in (list, typing.List) or ann is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list ({type_name(ann)}), got {_found(value)}")
        inner = args[0] if args else Any
        return [check_type(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (tuple, typing.Tuple) or ann is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list ({type_name(ann)}), got {_found(value)}")
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_type(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: expected {len(args)} values ({type_name(ann)}), got {len(value)}")
        return tuple(check_type(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, typing.Dict) or ann is dict or origin in (Mapping, typing.Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping ({type_name(ann)}), got {_found(value)}")
        if len(args) == 2:
            return {k: check_type(v, args[1], f"{path}.{k}") for k, v in value.items()}
        return dict(value)
    if dataclasses.is_dataclass(ann) and isinstance(ann, type):
        schema = dataclass_schema(ann, ann.__name__)
        return schema.validate(value, path)
    if isinstance(ann, type):
        if isinstance(value, ann):
            return value
        raise ConfigError(f"{path}: expected {ann.__name__}, got {_found(value)}")
    return value


def _found(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"

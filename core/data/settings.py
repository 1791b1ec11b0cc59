"""The ``data:`` section of a pipeline YAML (light: validated lazily through
:data:`restorekit.config.SECTION_VALIDATORS`).

Example::

    data:
      train:
        type: synthetic              # a registered dataset: standard.{paired,gopro,realblur,dpdd,lfdof,synthetic}, myplugin.frames …
        root: data/sharp_images      # for synthetic: any folder of sharp images
        crop: 128
        flips: true
        rot90: true
        length: 1000                 # samples per epoch (synthetic only)
        degradations:                # applied in order to the (cropped) sharp image
          - {type: motion_bf, canvas: 31, max_len: [10, 25]}   # [lo, hi] = sampled per image
          - {type: noise, sigma: [0.0, 0.02]}
          - {type: jpeg, quality: [60, 95], p: 0.5}
      val:
        type: gopro
        root: /data/GOPRO_Large
        crop: 256

Degradation options: a blur generator's options are exactly the keyword arguments of its
function in :mod:`restorekit.psf` (``motion_bf``, ``motion_gp``, ``gaussian``, ``disk``,
``defocus_depth``) except ``seed``; every float/int option may instead be given as a range
``[lo, hi]``, sampled uniformly per image. Each degradation also takes ``p`` (probability of
being applied, default 1) and blur degradations take ``boundary`` (default ``reflect``). The
image degradations are ``noise`` (``sigma``: Gaussian noise std), ``jpeg`` (``quality``) and
``saturation`` (``threshold``, ``gain``; see :mod:`restorekit.data.synthetic`).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from ..errors import ConfigError, suggestion_text

KERNEL_DEGRADATIONS: tuple[str, ...] = ("motion_bf", "motion_gp", "gaussian", "disk")
"""Uniform blurs: a kernel from ``restorekit.psf.<name>``; the sample then carries ``kernel``."""
SPATIAL_DEGRADATIONS: tuple[str, ...] = ("defocus_depth",)
IMAGE_DEGRADATIONS: tuple[str, ...] = ("noise", "jpeg", "saturation")
CHOICE_DEGRADATIONS: tuple[str, ...] = ("one_of",)
"""``{type: one_of, choices: [CHAIN, CHAIN, …], weights: [w, …]}``: one of several sub-chains
per image (e.g. camera shake *or* defocus); a sample then carries no ``kernel``/``depth``."""
DEGRADATION_TYPES: tuple[str, ...] = KERNEL_DEGRADATIONS + SPATIAL_DEGRADATIONS + IMAGE_DEGRADATIONS + CHOICE_DEGRADATIONS
BLUR_BOUNDARIES: tuple[str, ...] = ("reflect", "symmetric", "replicate", "circular", "zeros")


@dataclass
class NoiseOptions:
    """``noise``: additive white Gaussian noise ``y ← y + σ·n``, ``n ~ N(0, 1)`` (not clipped
    until the end of the chain). ``sigma`` is the std for images in [0, 1]."""

    sigma: float = 0.01
    p: float = 1.0


@dataclass
class JpegOptions:
    """``jpeg``: 8-bit JPEG round trip through Pillow at ``quality`` (1–95)."""

    quality: int = 75
    p: float = 1.0


@dataclass
class SaturationOptions:
    """``saturation``: clipped highlights. Before the blur, pixels above ``threshold`` are
    boosted, ``x ← x + (gain − 1)·max(x − threshold, 0) / (1 − threshold)``, so bright
    regions exceed 1; the final clip to [0, 1] then saturates the blurred highlights (our
    choice; place it *before* the blur in the list)."""

    threshold: float = 0.9
    gain: float = 2.0
    p: float = 1.0


DEFOCUS_DEPTH_OPTIONS: dict[str, tuple[Any, Any]] = {
    "near": (float, 0.5),
    "far": (float, 10.0),
    "depth_grid": (int, 4),
}
"""Options of the synthetic depth map of ``defocus_depth`` (our choice): a random field on a
``depth_grid × depth_grid`` grid of U(0, 1) values, bilinearly upsampled to the image and
mapped to depths in ``[near, far]`` (same unit as the lens parameters, metres by default)."""

IMAGE_OPTION_CLASSES: dict[str, type] = {
    "noise": NoiseOptions,
    "jpeg": JpegOptions,
    "saturation": SaturationOptions,
}
COMMON_BLUR_OPTIONS: dict[str, tuple[Any, Any]] = {
    "p": (float, 1.0),
    "boundary": (Literal["reflect", "symmetric", "replicate", "circular", "zeros"], "reflect"),
}


def degradation_options(kind: str) -> dict[str, tuple[Any, Any]]:
    """Option name → (type hint, default) of one degradation type.

    For blurs the options come from the signature of ``restorekit.psf.<kind>`` (minus
    ``seed``) plus ``p`` and ``boundary``.
    """
    if kind in IMAGE_OPTION_CLASSES:
        cls = IMAGE_OPTION_CLASSES[kind]
        hints = typing.get_type_hints(cls)
        return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(cls)}
    fn = psf_function(kind)
    if kind == "defocus_depth":
        fn = defocus_class()
    target = fn.__init__ if inspect.isclass(fn) else fn
    hints = typing.get_type_hints(target)
    out: dict[str, tuple[Any, Any]] = {}
    for name, param in inspect.signature(target).parameters.items():
        if name in ("self", "seed", "generator", "depth", "image", "x") or param.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        out[name] = (hints.get(name, Any), param.default)
    out.update(COMMON_BLUR_OPTIONS)
    if kind == "defocus_depth":
        out.update(DEFOCUS_DEPTH_OPTIONS)
    return out


def defocus_class() -> Any:
    """``restorekit.psf.DepthDefocus`` (the typed form of ``defocus_depth``)."""
    from .. import psf

    cls = getattr(psf, "DepthDefocus", None)
    if cls is None:
        import importlib

        cls = getattr(importlib.import_module(f"{psf.__name__}.defocus_depth"), "DepthDefocus", None)
    if cls is None:
        raise ConfigError("degradation 'defocus_depth': restorekit.psf.DepthDefocus is not available in this installation")
    return cls


def psf_function(kind: str) -> Any:
    """The generator ``restorekit.psf.<kind>``, or a :class:`ConfigError` if it is missing."""
    try:
        from .. import psf
    except ImportError as exc:  # pragma: no cover - psf ships with the core
        raise ConfigError(f"degradation '{kind}' needs restorekit.psf, which failed to import: {exc}") from exc
    fn = getattr(psf, kind, None)
    if fn is None:  # the generator's own module, if the package does not re-export it
        import importlib

        try:
            fn = getattr(importlib.import_module(f"{psf.__name__}.{kind}"), kind, None)
        except ImportError:
            fn = None
    if fn is None:
        raise ConfigError(f"degradation '{kind}': restorekit.psf has no generator '{kind}' in this installation")
    return fn


def _numeric(ann: Any) -> bool:
    args = typing.get_args(ann) or (ann,)
    return any(a in (int, float) for a in args)


def check_degradation(spec: Any, path: str = "degradation") -> dict[str, Any]:
    """Validate one ``{type: …, **options}`` degradation; returns it unchanged on success.

    Raises:
        ConfigError: unknown type or option (with "did you mean"), a wrong value type, or a
            range ``[lo, hi]`` with ``lo > hi``.
    """
    from ..schema import check_type

    if not isinstance(spec, Mapping):
        raise ConfigError(f"{path}: a degradation is a mapping like {{type: motion_bf, ...}}, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind is None:
        raise ConfigError(f"{path}: missing 'type:' (one of {', '.join(DEGRADATION_TYPES)})")
    if kind not in DEGRADATION_TYPES:
        raise ConfigError(
            f"{path}.type: unknown degradation '{kind}'{suggestion_text(str(kind), DEGRADATION_TYPES)} "
            f"(known: {', '.join(DEGRADATION_TYPES)})"
        )
    if kind == "one_of":
        return _check_one_of(spec, path)
    options = degradation_options(kind)
    for key, value in spec.items():
        if key == "type":
            continue
        if key not in options:
            raise ConfigError(
                f"{path}.{key}: unknown option '{key}' for degradation '{kind}'"
                f"{suggestion_text(str(key), options)} (valid options: {', '.join(sorted(options))})"
            )
        ann, _default = options[key]
        if isinstance(value, (list, tuple)) and _numeric(ann) and typing.get_origin(ann) not in (list, tuple):
            if len(value) != 2:
                raise ConfigError(f"{path}.{key}: a range must be [lo, hi], got {list(value)}")
            lo = check_type(value[0], ann, f"{path}.{key}[0]")
            hi = check_type(value[1], ann, f"{path}.{key}[1]")
            if lo is None or hi is None or lo > hi:
                raise ConfigError(f"{path}.{key}: range [lo, hi] needs lo ≤ hi, got {list(value)}")
        else:
            check_type(value, ann, f"{path}.{key}")
    missing = [k for k, (_ann, default) in options.items() if default is inspect.Parameter.empty and k not in spec]
    if missing:
        raise ConfigError(f"{path}: degradation '{kind}' needs option(s) {', '.join(missing)}")
    p = spec.get("p", 1.0)
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"{path}.p: a probability must be in [0, 1], got {p}")
    return dict(spec)


def _check_one_of(spec: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``one_of``: ``choices`` (a list of sub-chains; a single degradation is a chain of one),
    optional ``weights`` (one non-negative number per choice, not all 0) and ``p``."""
    unknown = [k for k in spec if k not in ("type", "choices", "weights", "p")]
    if unknown:
        raise ConfigError(
            f"{path}.{unknown[0]}: unknown option '{unknown[0]}' for degradation 'one_of'"
            f"{suggestion_text(str(unknown[0]), ['choices', 'weights', 'p'])} (valid options: choices, weights, p)"
        )
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{path}.choices: one_of needs a non-empty list of degradation chains, e.g. [[{{type: motion_bf}}], [{{type: disk}}]]")
    for i, chain in enumerate(choices):
        chain = chain if isinstance(chain, list) else [chain]
        for j, sub in enumerate(chain):
            if isinstance(sub, Mapping) and sub.get("type") == "one_of":
                raise ConfigError(f"{path}.choices[{i}][{j}]: one_of cannot be nested")
            check_degradation(sub, f"{path}.choices[{i}][{j}]")
    weights = spec.get("weights")
    if weights is not None:
        if not isinstance(weights, list) or len(weights) != len(choices) or any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights
        ) or sum(weights) <= 0:
            raise ConfigError(f"{path}.weights: give one non-negative number per choice ({len(choices)}), not all zero; got {weights!r}")
    p = spec.get("p", 1.0)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"{path}.p: a probability must be in [0, 1], got {p!r}")
    return dict(spec)


class _DegradationMeta(type):
    """Lets the core's schema checker validate degradations while checking a config.

    ``restorekit.schema.check_type`` validates a plain-class annotation with ``isinstance``;
    the option set of a degradation depends on its ``type:``, which a dataclass annotation
    cannot express, so the check runs here (errors carry the degradation's type and the
    offending option, with "did you mean").
    """

    def __instancecheck__(cls, value: Any) -> bool:
        kind = value.get("type") if isinstance(value, Mapping) else None
        check_degradation(value, f"degradations entry '{kind}'" if kind else "degradations entry")
        return True


class Degradation(metaclass=_DegradationMeta):
    """Schema marker for one ``{type: …, **options}`` degradation entry (see :func:`check_degradation`)."""


DATASET_RUNTIME_KEYS: tuple[str, ...] = ("split", "seed", "train", "crop", "random_crop", "flips", "rot90", "channels")
"""Keyword arguments the core passes to every dataset factory (not options of its own)."""


@dataclass
class DatasetSettings:
    """The options every dataset takes (``data.train``, ``data.val`` or ``data.test``); the
    rest of the entry are the options of the dataset ``type`` (its factory's typed
    signature, e.g. ``root``, ``blurry_dir``, ``degradations`` — see
    ``restorekit components show standard.paired``).

    Attributes:
        type: a registered dataset, ``<plugin>.<name>`` (``standard.gopro``, ``myplugin.frames``);
            a bare name (``gopro``) is accepted when exactly one plugin registers it.
        crop: square crop size (random for training, centred otherwise); ``null`` = full image.
        random_crop: force random (``true``) or centred (``false``) crops; ``null`` = by split.
        flips: random horizontal and vertical flips (training).
        rot90: random multiples of 90° rotation (training).
        channels: 1 (grayscale) or 3 (RGB).
        seed: added to the run's seed for this dataset.
        blur_map_tile: add ``blur_map`` ``(1, H/t, W/t)`` to every sample, the tile-wise Laplacian
            target (:func:`restorekit.data.laplacian_blur_map`) on ``t × t`` tiles of
            the final (cropped) pair; ``null``: no blur map.
    """

    type: str
    crop: int | None = None
    random_crop: bool | None = None
    flips: bool = False
    rot90: bool = False
    channels: Literal[1, 3] = 3
    seed: int = 0
    blur_map_tile: int | None = None


SPLITS: tuple[str, ...] = ("train", "val", "test")


def validate_data_section(value: Any) -> dict[str, Any] | None:
    """Validate the ``data:`` section (``None`` when absent) and return it resolved: each split
    with its dataset's ``type`` resolved to the registered name and every default filled in."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"data: expected a mapping with {', '.join(SPLITS)} entries, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for split, spec in value.items():
        if split not in SPLITS:
            raise ConfigError(f"data.{split}: unknown split{suggestion_text(str(split), SPLITS)} (splits: {', '.join(SPLITS)})")
        if spec is None:
            continue
        from .build import dataset_settings

        out[split] = dataset_settings(value, split)
    return out

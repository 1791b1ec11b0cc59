"""Weights: one loader for every command, model cards, and the bundled-weights registry.

* :func:`load_weights` — the only way restorekit loads a state dict into a pipeline
  (``deblur``, ``eval``, ``demo`` and training's warm start ``train.init_weights``). It reads
  safetensors only and fails with a message that names the problem and the fix: a missing
  file, a PyTorch pickle (``.pth``/``.pt``, never unpickled here: convert it with
  ``restorekit weights convert``), a corrupt file (including a failed checksum: files
  written by restorekit carry the sha256 of their tensors), missing/unexpected keys, a shape
  mismatch (the first mismatched key and both shapes) and non-finite values (the first such key).
* :class:`ModelCard` — a machine-readable record stored *inside* the safetensors file (its
  ``__metadata__``), so a bundled file describes itself: the pipeline it belongs to, the
  input size multiple, training data and steps, validation PSNR, licence and the command
  that reproduces it (in the manner of timm's pretrained configurations).
* Bundled weights are registered by plugins through the ``register_weights(register)`` hook
  (``register("tiny", path)`` → ``<plugin>.tiny``); :func:`list_weights` and
  ``restorekit weights [--json]`` list them, and ``--pipeline <plugin>.<name>`` builds the
  pipeline of a card with its weights.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from .errors import ConfigError, InputError, suggestion_text

__all__ = [
    "CARD_KEY",
    "ModelCard",
    "WeightsEntry",
    "bundled_weights",
    "load_weights",
    "read_card",
    "read_state_dict",
    "save_weights",
    "list_weights",
]

CARD_KEY = "restorekit.card"
"""The safetensors ``__metadata__`` key that holds the JSON model card."""

TASKS = ("nonblind", "motion", "defocus", "motion+defocus")


@dataclass
class ModelCard:
    """What a weights file is, how it was made, and how well it does.

    Attributes:
        name: catalog name of bundled weights (``"<plugin>.<name>"``), or a free label.
        pipeline: the resolved pipeline config (``restorekit config resolve`` output) the
            weights belong to; ``--pipeline <name>`` builds it.
        task: ``nonblind`` (needs a PSF), ``motion``, ``defocus`` or ``motion+defocus``.
        size_multiple: input height and width must be multiples of this (inference pads).
        data: what it was trained on.
        steps: optimiser steps.
        val_psnr: PSNR (dB) of the restored validation images.
        val_input_psnr: PSNR (dB) of the blurry inputs of the same validation set.
        val_set: what it was validated on (held out from training).
        licence: licence of the weights.
        command: the command that reproduces the weights.
        notes: anything else a user should know.
        metrics: more measured numbers, by name (e.g. per-blur-type PSNR).
    """

    name: str
    pipeline: dict[str, Any]
    task: str = "nonblind"
    size_multiple: int = 1
    data: str = ""
    steps: int = 0
    val_psnr: float | None = None
    val_input_psnr: float | None = None
    val_set: str = ""
    licence: str = "MIT"
    command: str = ""
    notes: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"model card '{self.name}': task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not isinstance(self.pipeline, Mapping) or "model" not in self.pipeline:
            raise ConfigError(f"model card '{self.name}': pipeline must be a pipeline config with a 'model' section")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelCard":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def markdown(self) -> str:
        """A human-readable card (what ``restorekit weights show NAME`` prints)."""
        from .config import dump_yaml

        gain = ""
        if self.val_psnr is not None and self.val_input_psnr is not None:
            gain = f" (blurry input {self.val_input_psnr:.2f} dB, {self.val_psnr - self.val_input_psnr:+.2f} dB)"
        lines = [
            f"# {self.name}",
            "",
            f"- task: {self.task}",
            f"- input size multiple: {self.size_multiple}",
            f"- training data: {self.data or '-'}",
            f"- steps: {self.steps}",
            f"- validation: {self.val_set or '-'}",
            f"- validation PSNR: {'-' if self.val_psnr is None else f'{self.val_psnr:.2f} dB'}{gain}",
        ]
        lines += [f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in self.metrics.items()]
        lines += [f"- licence: {self.licence}", f"- reproduce: `{self.command or '-'}`"]
        if self.notes:
            lines += ["", self.notes]
        lines += ["", "## Pipeline", "", "```yaml", dump_yaml(self.pipeline).rstrip(), "```", ""]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------------------

_PICKLE_HINT = (
    "it is a PyTorch pickle (.pth/.pt), which restorekit never unpickles at load time; convert it once with "
    "`restorekit weights convert {path} -o {stem}.safetensors` (tensors only, read with weights_only=True), "
    "or with the converter of the plugin whose official checkpoint it is (its key layout may differ)"
)


def _file_of(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "model.safetensors"
    if not p.is_file():
        where = "" if p.parent.is_dir() else f" (folder '{p.parent}' does not exist either)"
        raise InputError(
            f"weights file '{p}' does not exist{where}; give a .safetensors file, a run/checkpoint folder "
            f"holding model.safetensors, or a bundled name from `restorekit weights`"
        )
    return p


def _sniff(p: Path) -> str:
    """``safetensors``, ``pickle`` or ``unknown`` from the first bytes of the file.

    A safetensors file starts with its header length (8 bytes, little-endian) and the JSON
    header's ``{``; that test comes first, because the low byte of the length can be 0x80,
    the first byte of a pickle. A PyTorch file is a zip archive (``PK\\x03\\x04``) or a
    pickle (0x80, then the protocol number 2–5).
    """
    with p.open("rb") as f:
        head = f.read(16)
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if 0 < n < (1 << 28) and head[8:9] == b"{":
            return "safetensors"
    if head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5):
        return "pickle"
    return "unknown"


def read_state_dict(path: str | Path, verify: bool = True) -> tuple[dict[str, Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file, with clear errors.

    Raises:
        InputError: missing file, a pickle, or an unreadable/corrupt file (with ``verify``:
            also tensors that fail the checksum stored by restorekit).
    """
    from safetensors import safe_open

    p = _file_of(path)
    kind = _sniff(p)
    if kind == "pickle":
        raise InputError(f"{p}: " + _PICKLE_HINT.format(path=p, stem=p.with_suffix("")))
    if kind != "safetensors":
        raise InputError(f"{p}: not a safetensors file (its header is not a safetensors header); give weights written by restorekit")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # SafetensorError for truncated or corrupt files
        raise InputError(f"{p}: not a readable safetensors file ({exc}); the file may be truncated — copy it again") from exc
    if verify:
        verify_digest(p, tensors, meta)
    return tensors, meta


def verify_digest(p: Path, tensors: Mapping[str, Tensor], meta: Mapping[str, str]) -> None:
    """Compare the tensors with the checksum restorekit stored in the file (if any)."""
    from .engine.checkpoint import DIGEST_KEY, tensor_digest

    expected = meta.get(DIGEST_KEY)
    if expected and tensor_digest(tensors) != expected:
        raise InputError(
            f"{p}: the tensors fail their checksum ({DIGEST_KEY} in the file's metadata); the file is corrupt "
            f"(bit-rot or a damaged copy) — copy it again or use an earlier checkpoint"
        )


def read_card(path: str | Path) -> ModelCard | None:
    """The :class:`ModelCard` stored in a safetensors file, or ``None`` when it has none."""
    from safetensors import safe_open

    p = _file_of(path)
    if _sniff(p) != "safetensors":
        return None
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get(CARD_KEY)
    except Exception:
        return None
    if not raw:
        return None
    try:
        return ModelCard.from_dict(json.loads(raw))
    except (ValueError, TypeError, ConfigError) as exc:
        raise InputError(f"{p}: the model card in the file is malformed ({exc})") from exc


def save_weights(module: nn.Module | Mapping[str, Tensor], path: str | Path, card: ModelCard | None = None) -> Path:
    """Write ``module``'s state dict (or a state dict) to ``path`` atomically, with ``card`` inside.

    Returns the path. The file is written to a temporary name in the same folder, synced and
    renamed, so a crash never leaves a half-written file under ``path``.
    """
    from .engine.checkpoint import plain_state_dict, write_weights

    state = plain_state_dict(module) if isinstance(module, nn.Module) else {k: v.detach().cpu().contiguous() for k, v in module.items()}
    meta = {"format": "pt"}
    if card is not None:
        meta[CARD_KEY] = json.dumps(card.as_dict(), sort_keys=True)
    return write_weights(path, state, meta)


def _first_non_finite(state: Mapping[str, Tensor]) -> str | None:
    for k, v in state.items():
        if v.is_floating_point() or v.is_complex():
            if not bool(torch.isfinite(v).all()):
                return k
    return None


def load_weights(
    pipeline: nn.Module,
    path: str | Path,
    *,
    strict: bool = True,
    check_finite: bool = True,
) -> ModelCard | None:
    """Load a safetensors state dict into ``pipeline``; return the file's :class:`ModelCard`.

    Args:
        pipeline: a :class:`restorekit.Pipeline` (or any module).
        path: a ``.safetensors`` file, a folder holding ``model.safetensors`` (a run or a
            checkpoint), or the name of bundled weights (``restorekit weights``).
        strict: missing or unexpected keys are an error (``False``: load the keys that match,
            e.g. a warm start from a related pipeline; shapes must still agree).
        check_finite: reject weights with NaN/Inf values (bit-rot, a diverged run).

    Raises:
        InputError: with the problem and the fix (see the module docstring).
    """
    p = resolve_weights_path(path)
    state, meta = read_state_dict(p, verify=False)
    if check_finite:
        bad = _first_non_finite(state)
        if bad is not None:
            raise InputError(
                f"{p}: tensor '{bad}' contains NaN or Inf values; the file is corrupt or comes from a diverged "
                f"run — use an earlier checkpoint"
            )
    verify_digest(p, state, meta)
    own = pipeline.state_dict()
    for key in own:  # in the pipeline's order, so "the first" is the first in the model
        value = state.get(key)
        if value is not None and tuple(own[key].shape) != tuple(value.shape):
            raise InputError(
                f"{p} does not fit the pipeline: '{key}' is {tuple(value.shape)} in the file but "
                f"{tuple(own[key].shape)} in the pipeline; use the weights trained with this pipeline YAML "
                f"(or the same component options)"
            )
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if strict and (missing or unexpected):
        miss = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        unexp = ", ".join(unexpected[:5]) + (" …" if len(unexpected) > 5 else "")
        raise InputError(
            f"{p} does not match the pipeline: {len(missing)} missing key(s) [{miss}], "
            f"{len(unexpected)} unexpected key(s) [{unexp}]; use the weights trained with this pipeline YAML"
        )
    pipeline.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return read_card(p)


# ---------------------------------------------------------------------------------------
# Bundled weights
# ---------------------------------------------------------------------------------------


@dataclass
class WeightsEntry:
    """One registered bundled weights file."""

    name: str
    plugin: str
    path: Path
    card: ModelCard | None

    def as_dict(self) -> dict[str, Any]:
        card = self.card
        size = self.path.stat().st_size if self.path.is_file() else 0
        return {
            "name": self.name,
            "plugin": self.plugin,
            "path": str(self.path),
            "size_bytes": size,
            "task": card.task if card else None,
            "val_psnr": card.val_psnr if card else None,
            "val_input_psnr": card.val_input_psnr if card else None,
            "steps": card.steps if card else None,
            "card": card.as_dict() if card else None,
        }


def bundled_weights() -> dict[str, WeightsEntry]:
    """Name → :class:`WeightsEntry` of every bundled weights file registered by a plugin."""
    from .plugin_host import get_host

    return dict(get_host().weights)


def list_weights() -> list[dict[str, Any]]:
    """The bundled weights as dicts (name, plugin, path, size, task, validation PSNR, card)."""
    return [e.as_dict() for _, e in sorted(bundled_weights().items())]


def resolve_weights_path(path: str | Path) -> Path:
    """A file path for ``path``: itself, ``<folder>/model.safetensors``, or a bundled name."""
    p = Path(path).expanduser()
    if p.exists():
        return _file_of(p)
    text = str(path)
    entries = bundled_weights()
    if text in entries:
        return entries[text].path
    if "." in text and not p.suffix and "/" not in text:
        raise InputError(
            f"no bundled weights named '{text}'{suggestion_text(text, list(entries))} "
            f"(run `restorekit weights` to list them)"
        )
    return _file_of(p)


def entry_for(name: str) -> WeightsEntry:
    """The bundled weights called ``name`` (with "did you mean")."""
    entries = bundled_weights()
    if name not in entries:
        raise InputError(f"no bundled weights named '{name}'{suggestion_text(name, list(entries))} (run `restorekit weights` to list them)")
    return entries[name]


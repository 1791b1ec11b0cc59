"""Which pipeline a command runs: ``--pipeline FILE|NAME``, ``--weights``, or the measured default.

``restorekit deblur IN -o OUT`` with nothing else restores blindly with the bundled blind
pipeline whose recorded held-out PSNR (camera shake and defocus) is best; with ``--kernel PSF``
it uses the best bundled non-blind pipeline (see :func:`restorekit.bundled.default_pipeline`).
``--pipeline`` takes a YAML path or a bundled name (``restorekit pipelines`` lists them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import ConfigError

__all__ = ["build_for_command"]


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith((".yaml", ".yml"))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _from_yaml(path: str, overrides: Sequence[str], weights: str | None, device: torch.device) -> Any:
    from ..config import resolve_config
    from ..pipeline import build_pipeline, check_memory
    from ..weights import load_weights

    resolved = resolve_config(path, overrides=list(overrides) or None)
    check_memory(resolved, training=False, device=device)
    pipeline = build_pipeline(resolved)
    if weights:
        load_weights(pipeline, weights)
    else:
        n = sum(p.numel() for p in pipeline.parameters())
        if n:
            _say(f"warning: the pipeline has {n:,} parameters but no --weights were given; it runs with its initial (untrained) weights")
    return pipeline


def _from_bundled(name: str, overrides: Sequence[str], weights: str | None, why: str = "") -> Any:
    from ..bundled import get_bundled
    from ..pipeline import load_pipeline
    from ..weights import load_weights

    entry = get_bundled(name)
    pipeline = load_pipeline(entry.pipeline, overrides=list(overrides) or None)
    source = weights or entry.weights
    if source is not None:
        load_weights(pipeline, source)
    elif sum(p.numel() for p in pipeline.parameters()):
        _say(f"warning: bundled pipeline '{name}' has learnable parameters but no weights; it runs untrained (pass --weights)")
    _say(f"pipeline: {entry.name} ({entry.label or 'bundled'}{why}); weights: {source or 'none (no learned parameters)'}")
    return pipeline


def build_for_command(
    pipeline: str | None,
    overrides: Sequence[str],
    weights: str | None,
    device: torch.device,
    kernel_given: bool = False,
) -> Any:
    """The pipeline ``restorekit deblur``/``eval`` runs (eval mode, on ``device``).

    Args:
        pipeline: ``--pipeline`` (a YAML path or a bundled name), or ``None`` for the default.
        overrides: dotted ``-O key=value`` overrides.
        weights: ``--weights`` (a file, a run folder or a bundled weights name).
        kernel_given: ``--kernel`` was passed (selects the non-blind default).
    """
    from ..bundled import bundled_pipelines, default_pipeline
    from ..pipeline import load_pipeline
    from ..weights import load_weights, read_card, resolve_weights_path

    if pipeline is not None:
        if Path(pipeline).exists() or _looks_like_path(pipeline):
            built = _from_yaml(pipeline, overrides, weights, device)
        elif pipeline in bundled_pipelines():
            built = _from_bundled(pipeline, overrides, weights)
        else:
            from ..bundled import get_bundled

            get_bundled(pipeline)  # raises with "did you mean"
            raise AssertionError("unreachable")
    elif weights is not None:
        card = read_card(resolve_weights_path(weights))
        if card is None:
            raise ConfigError(
                f"--weights {weights} carries no model card, so its pipeline is unknown; pass --pipeline FILE|NAME "
                f"(the YAML it was trained with)"
            )
        built = load_pipeline(card.pipeline, overrides=list(overrides) or None)
        load_weights(built, weights)
        _say(f"pipeline: from the model card of {weights} ({card.name})")
    else:
        family = "nonblind" if kernel_given else "blind"
        entry = default_pipeline(family)
        score = entry.score(family)
        if family == "blind":
            m = entry.metrics
            what = (f"{score:.2f} dB, the mean of camera shake {float(m['heldout_motion_psnr']):.2f} and defocus "
                    f"{float(m['heldout_defocus_psnr']):.2f} dB")
        else:
            what = f"{score:.2f} dB on camera shake with its PSF"
        why = f", the default {'non-blind' if kernel_given else 'blind'} pipeline: best measured held-out PSNR {what}"
        built = _from_bundled(entry.name, overrides, None, why)
    if kernel_given and "kernel" not in getattr(built, "available", set()):
        _say("note: --kernel was given but this pipeline does not use a PSF (it is blind); the kernel is ignored")
    return built.to(device).eval()

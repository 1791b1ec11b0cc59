"""The ``eval:`` section of a pipeline YAML (imports nothing heavy; validated lazily through
:data:`restorekit.config.SECTION_VALIDATORS`).

Example::

    eval:
      protocol: set3c_levin        # a name from restorekit.metrics.PROTOCOLS
      border: 4                    # optional overrides of the protocol's fields
      metrics: [psnr, ssim, lpips]  # built-ins, or metrics registered by plugins:
                                    # [psnr, myplugin.niqe, {type: myplugin.sharpness, radius: 2}]
      lpips_weights: /models/lpips_vgg.pth
      lpips_backbone_weights: /models/vgg16.pth
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Mapping



@dataclass
class EvalSettings:
    """Evaluation settings.

    Attributes:
        protocol: a named protocol (``default``, ``set3c_levin``, ``gopro``, ``realblur``,
            ``dpdd``, ``lfdof``, ``y``; see :mod:`restorekit.metrics.protocols`).
        color, border, data_range, uint8, metrics: override the protocol's fields (``null``
            keeps the protocol's value). A metric is a built-in name (``psnr``, ``ssim``,
            ``lpips``) or a metric registered by a plugin, by name (``myplugin.niqe``) or as
            ``{type: myplugin.niqe, **options}``.
        split: which ``data:`` dataset ``restorekit eval`` runs on (``test``, else ``val``).
        lpips_net: backbone of LPIPS (``vgg`` or ``alex``).
        lpips_weights: local file with the LPIPS linear layers (official ``lin{i}.model.1.weight`` layout).
        lpips_backbone_weights: local torchvision ``vgg16``/``alexnet`` state dict for the backbone.
    """

    protocol: str = "default"
    color: Literal["rgb", "y"] | None = None
    border: int | None = None
    data_range: float | None = None
    uint8: bool | None = None
    metrics: list[str | dict[str, Any]] | None = None
    split: Literal["test", "val"] = "test"
    lpips_net: Literal["vgg", "alex"] = "vgg"
    lpips_weights: str | None = None
    lpips_backbone_weights: str | None = None


def validate_eval_section(value: Any) -> dict[str, Any]:
    """Validate the ``eval:`` section (absent = defaults) and return it resolved.

    Checks the protocol name, the overrides' ranges (through :class:`Protocol`) and every
    metric name against the built-ins and the catalog's registered metrics (options of a
    plugin metric against its typed constructor), all with "did you mean".
    """
    from ..errors import ConfigError
    from ..schema import dataclass_schema
    from .protocols import metric_spec, protocol_from_settings

    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"eval: expected a mapping of evaluation settings, got {type(value).__name__}")
    schema = dataclass_schema(EvalSettings, "the 'eval' section")
    resolved = {**schema.defaults(), **schema.validate(value or {}, "eval")}
    if resolved.get("metrics") is not None:
        resolved["metrics"] = [metric_spec(m, f"eval.metrics[{i}]") for i, m in enumerate(resolved["metrics"])]
        names = [m if isinstance(m, str) else m["type"] for m in resolved["metrics"]]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"eval.metrics: {', '.join(dup)} listed twice; list each metric once (options in one {{type: …}} entry)")
    protocol_from_settings(resolved)  # protocol name and range checks
    return {f.name: resolved[f.name] for f in dataclasses.fields(EvalSettings)}


"""``compute_metrics``: per-image metrics under a named protocol."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor

from ..errors import ConfigError, InputError
from .protocols import Protocol, get_protocol, protocol_from_settings
from .fidelity import psnr, ssim


def rgb_to_y_bt601(image: Tensor) -> Tensor:
    """Studio-swing BT.601 luma of an RGB image in [0, 1], returned in [16/255, 235/255].

    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` (MATLAB ``rgb2ycbcr``). Hand-written
    because kornia's ``rgb_to_y`` is the full-range variant (0.299, 0.587, 0.114), which is not
    what super-resolution/deblurring papers use for "PSNR on Y".

    Args:
        image: ``(B, 3, H, W)``. Returns ``(B, 1, H, W)``.
    """
    if image.shape[1] != 3:
        raise InputError(f"the 'y' colour space needs RGB images (3 channels), got {image.shape[1]} channels")
    w = torch.tensor([65.481, 128.553, 24.966], dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (16.0 + (image * w).sum(dim=1, keepdim=True)) / 255.0


def prepare(image: Tensor, protocol: Protocol) -> Tensor:
    """Apply a protocol's colour space, 8-bit rounding, scaling and border crop.

    Args:
        image: ``(B, C, H, W)`` in [0, 1]. Returns float64 ``(B, C', H − 2b, W − 2b)`` in
            ``[0, data_range]``.
    """
    x = image.double()
    if protocol.uint8:
        # The 8-bit image a method saves: uint8(round(clip(x, 0, 1) · 255)) (benchmarks.md §2.1 step 6).
        x = torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0
    if protocol.color == "y":
        x = rgb_to_y_bt601(x)
        if protocol.uint8:
            x = torch.round(x * 255.0) / 255.0
    x = x * protocol.data_range
    b = protocol.border
    if b:
        if 2 * b >= x.shape[-1] or 2 * b >= x.shape[-2]:
            raise InputError(f"border {b} removes the whole {tuple(x.shape[-2:])} image; use a smaller border")
        x = x[..., b:-b, b:-b]
    return x


_PLUGIN_METRICS: dict[tuple[str, tuple], Any] = {}


def plugin_metric(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """A metric registered by a plugin, built once per (name, options) with
    :func:`restorekit.create`. It is called as ``metric(restored, sharp) -> (B,)`` on float64
    images after the protocol's colour space, rounding and border crop, scaled to [0, 1]."""
    from ..components import create

    key = (name, tuple(sorted((options or {}).items(), key=lambda kv: kv[0])))
    if key not in _PLUGIN_METRICS:
        _PLUGIN_METRICS[key] = create(name, kind="metric", **dict(options or {}))
    return _PLUGIN_METRICS[key]


def compute_metrics(
    restored: Tensor,
    sharp: Tensor,
    protocol: str | Protocol | Mapping[str, Any] = "default",
    lpips: Any | None = None,
) -> dict[str, Tensor]:
    """Per-image metrics of ``restored`` against ``sharp`` under ``protocol``.

    Args:
        restored: ``(B, C, H, W)`` or ``(C, H, W)``, values in [0, 1].
        sharp: same shape.
        protocol: a protocol name, a :class:`Protocol`, or an ``eval:`` section mapping.
        lpips: an :class:`restorekit.metrics.LPIPS` module, needed when the protocol lists
            ``lpips``.

    Returns:
        ``{"psnr": (B,), "ssim": (B,), …}`` float64 tensors on the input's device.

    Raises:
        InputError: shapes differ, or LPIPS is requested without a model.
    """
    proto = protocol if isinstance(protocol, Protocol) else (
        get_protocol(protocol) if isinstance(protocol, str) else protocol_from_settings(protocol)
    )
    if restored.dim() == 3:
        restored, sharp = restored[None], sharp[None]
    if restored.shape != sharp.shape:
        raise InputError(
            f"restored {tuple(restored.shape)} and sharp {tuple(sharp.shape)} differ in shape; "
            f"crop the restored image back to the reference size before computing metrics"
        )
    if restored.dim() != 4:
        raise InputError(f"metrics need (B, C, H, W) or (C, H, W) images, got {tuple(restored.shape)}")
    out: dict[str, Tensor] = {}
    a, b = prepare(restored, proto), prepare(sharp, proto)
    for name in proto.metrics:
        if name == "psnr":
            out["psnr"] = psnr(a, b, data_range=proto.data_range)
        elif name == "ssim":
            out["ssim"] = ssim(a, b, data_range=proto.data_range)
        elif name not in ("psnr", "ssim", "lpips"):
            metric = plugin_metric(name, proto.options_of(name))
            scale = 1.0 / proto.data_range
            with torch.no_grad():
                value = metric(a * scale, b * scale)
            if not isinstance(value, Tensor) or value.shape != (a.shape[0],):
                raise ConfigError(
                    f"metric '{name}' returned {getattr(value, 'shape', type(value).__name__)}; a metric must return "
                    f"one value per image, a tensor of shape ({a.shape[0]},)"
                )
            out[name] = value.double()
        elif name == "lpips":
            if lpips is None:
                raise ConfigError(
                    "the protocol lists 'lpips' but no LPIPS model was given; set eval.lpips_weights "
                    "(and eval.lpips_backbone_weights) to local weight files, or drop 'lpips' from eval.metrics"
                )
            # LPIPS works on RGB images in [0, 1]; only the border crop of the protocol applies.
            bd = proto.border
            ra, rb = restored, sharp
            if bd:
                ra, rb = ra[..., bd:-bd, bd:-bd], rb[..., bd:-bd, bd:-bd]
            with torch.no_grad():
                out["lpips"] = lpips(ra.float(), rb.float()).double()
    return out

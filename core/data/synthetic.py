"""Synthetic degradation on the fly: blur (uniform or depth-varying), saturation, noise, JPEG.

A degradation chain (the ``degradations:`` list of a dataset, validated by
:func:`restorekit.data.settings.check_degradation`) is applied in order to a sharp image
``x`` ``(C, H, W)`` in [0, 1]:

* ``motion_bf`` / ``motion_gp`` / ``gaussian`` / ``disk``: ``y ← k ∗ y`` with a kernel from
  :mod:`restorekit.psf` (generators that take a ``seed`` get the sample's generator), computed
  by :func:`restorekit.functional.conv2d` with the degradation's ``boundary`` (default
  ``reflect``, so a crop's border carries no wrap-around artefact);
* ``defocus_depth``: spatially varying thin-lens defocus (:class:`restorekit.psf.DepthDefocus`,
  modes ``layered`` / ``per_pixel`` / ``rkr``) from a given or a random smooth depth map;
* ``saturation``, ``noise``, ``jpeg``: see :mod:`restorekit.data.settings`;
* ``one_of``: one of several sub-chains per image, drawn with ``weights`` (e.g. camera shake
  *or* defocus for a blind model that should handle both). Samples of such a chain carry no
  ``kernel``/``depth`` (they would differ between the samples of a batch).

The result is clipped to [0, 1] at the end. Options given as ``[lo, hi]`` are sampled
uniformly per image (integers inclusive). All randomness comes from the ``torch.Generator``
passed in, so a sample is a pure function of its seed.

When the chain contains uniform blurs only, the sample carries their composite ``kernel``
``(1, h, w)`` (a 1×1 Dirac when every blur was skipped by its ``p``), so non-blind pipelines
can train on it.
"""

from __future__ import annotations

import inspect
import io
import typing
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import ConfigError
from .kernel_utils import compose
from .settings import (
    KERNEL_DEGRADATIONS,
    SPATIAL_DEGRADATIONS,
    check_degradation,
    degradation_options,
    psf_function,
)

_NON_GENERATOR_OPTIONS = ("type", "p", "boundary")


def _uniform(gen: torch.Generator) -> float:
    return float(torch.rand((), generator=gen, dtype=torch.float64))


def sample_options(spec: Mapping[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """Resolve ``[lo, hi]`` ranges of a degradation's numeric options to one value each."""
    options = degradation_options(str(spec["type"]))
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("type", "p"):
            continue
        ann = options[key][0]
        if isinstance(value, (list, tuple)) and typing.get_origin(ann) not in (list, tuple):
            lo, hi = value
            if _is_int(ann, lo, hi):
                out[key] = int(lo) + int(torch.randint(int(hi) - int(lo) + 1, (1,), generator=gen))
            else:
                out[key] = float(lo) + (float(hi) - float(lo)) * _uniform(gen)
        else:
            out[key] = value
    return out


def _is_int(ann: Any, lo: Any, hi: Any) -> bool:
    args = typing.get_args(ann) or (ann,)
    return int in args and float not in args and isinstance(lo, int) and isinstance(hi, int)


def random_kernel(spec: Mapping[str, Any], gen: torch.Generator) -> Tensor:
    """One kernel ``(h, w)`` float64 from a uniform-blur degradation spec."""
    kind = str(spec["type"])
    fn = psf_function(kind)
    opts = {k: v for k, v in sample_options(spec, gen).items() if k not in _NON_GENERATOR_OPTIONS}
    if "seed" in inspect.signature(fn).parameters:
        opts["seed"] = gen
    kernel = torch.as_tensor(fn(**opts), dtype=torch.float64)
    if kernel.dim() != 2:
        raise ConfigError(f"restorekit.psf.{kind} returned shape {tuple(kernel.shape)}; expected a 2-D kernel")
    return kernel


def _jpeg(y: Tensor, quality: int) -> Tensor:
    """8-bit JPEG round trip (Pillow) of ``(C, H, W)`` in [0, 1]."""
    arr = torch.round(y.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    im = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(min(max(quality, 1), 95)))
    buf.seek(0)
    dec = np.asarray(Image.open(buf).convert("L" if arr.shape[-1] == 1 else "RGB"), dtype=np.float32) / 255.0
    t = torch.from_numpy(dec.copy())
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
    return t.to(dtype=y.dtype, device=y.device)


def random_depth(height: int, width: int, near: float, far: float, grid: int, gen: torch.Generator) -> Tensor:
    """A smooth random depth map ``(1, H, W)`` in ``[near, far]`` (see ``DEFOCUS_DEPTH_OPTIONS``)."""
    import torch.nn.functional as F

    coarse = torch.rand(1, 1, max(grid, 1), max(grid, 1), generator=gen, dtype=torch.float64)
    field = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=True)[0]
    return near + (far - near) * field


def _defocus_depth(y: Tensor, spec: Mapping[str, Any], gen: torch.Generator, depth: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Depth-varying defocus by :class:`restorekit.psf.DepthDefocus` (thin lens, spec §7.5).

    Returns ``(blurred (C,H,W), depth (1,H,W), radius map in pixels (1,H,W))``.
    """
    from .settings import DEFOCUS_DEPTH_OPTIONS, defocus_class

    opts = sample_options(spec, gen)
    near = float(opts.pop("near", DEFOCUS_DEPTH_OPTIONS["near"][1]))
    far = float(opts.pop("far", DEFOCUS_DEPTH_OPTIONS["far"][1]))
    grid = int(opts.pop("depth_grid", DEFOCUS_DEPTH_OPTIONS["depth_grid"][1]))
    if depth is None:
        depth = random_depth(y.shape[-2], y.shape[-1], near, far, grid, gen)
    model = defocus_class()(**opts)
    d = depth.to(torch.float64)[None]
    radius = model.radius(d)
    if model.r_max is not None:
        radius = radius.clamp(0, float(model.r_max))
    blurred = model.apply_radius(y[None].to(torch.float64), radius)[0].to(y.dtype)
    return blurred, depth.to(y.dtype), radius[0].to(y.dtype)


def degrade(
    sharp: Tensor,
    degradations: Sequence[Mapping[str, Any]],
    gen: torch.Generator,
    depth: Tensor | None = None,
) -> dict[str, Tensor]:
    """Apply a degradation chain to ``sharp`` ``(C, H, W)``.

    Args:
        sharp: the sharp image in [0, 1].
        degradations: validated ``{type: …, **options}`` entries, applied in order.
        gen: the sample's generator (the only source of randomness).
        depth: optional depth map ``(1, H, W)`` for ``defocus_depth``.

    Returns:
        ``{"blurry": (C, H, W)}`` plus ``"kernel"`` ``(1, h, w)`` (float32, sum 1) when the
        chain's blurs are all uniform, and ``"depth"`` and ``"defocus_radius"`` (pixels),
        both ``(1, H, W)``, when it contains ``defocus_depth``.
    """
    from ..functional import conv2d

    y = sharp.clone()
    kernel: Tensor | None = None
    mixed = any(str(d.get("type")) == "one_of" for d in degradations)
    has_uniform = not mixed and any(str(d.get("type")) in KERNEL_DEGRADATIONS for d in degradations)
    has_spatial = not mixed and any(str(d.get("type")) in SPATIAL_DEGRADATIONS for d in degradations)
    out: dict[str, Tensor] = {}
    for i, spec in enumerate(degradations):
        check_degradation(spec, f"degradations[{i}]")
        kind = str(spec["type"])
        apply = _uniform(gen) < float(spec.get("p", 1.0))
        if not apply:
            continue
        if kind == "one_of":
            choices = [c if isinstance(c, list) else [c] for c in spec["choices"]]
            w = torch.tensor([float(x) for x in (spec.get("weights") or [1.0] * len(choices))], dtype=torch.float64)
            pick = int(torch.multinomial(w / w.sum(), 1, generator=gen))
            y = degrade(y, choices[pick], gen, depth)["blurry"].to(y.dtype)
        elif kind in KERNEL_DEGRADATIONS:
            k = random_kernel(spec, gen)
            y = conv2d(y[None], k.to(y.dtype), boundary=str(spec.get("boundary", "reflect")))[0]
            kernel = k if kernel is None else compose(kernel, k)
        elif kind in SPATIAL_DEGRADATIONS:
            y, out["depth"], out["defocus_radius"] = _defocus_depth(y, spec, gen, depth)
        else:
            opts = sample_options(spec, gen)
            if kind == "noise":
                y = y + float(opts.get("sigma", 0.01)) * torch.randn(y.shape, generator=gen, dtype=y.dtype)
            elif kind == "jpeg":
                y = _jpeg(y, int(opts.get("quality", 75)))
            elif kind == "saturation":
                t = float(opts.get("threshold", 0.9))
                g = float(opts.get("gain", 2.0))
                y = y + (g - 1.0) * (y - t).clamp_min(0.0) / max(1.0 - t, 1e-6)
    out["blurry"] = y.clamp(0.0, 1.0)
    if has_uniform and not has_spatial:
        if kernel is None:
            kernel = torch.ones(1, 1, dtype=torch.float64)
        kernel = kernel / kernel.sum()
        out["kernel"] = kernel[None].float()
    if has_spatial and "defocus_radius" not in out:  # skipped by its p: in focus everywhere
        out["depth"] = depth.to(sharp.dtype) if depth is not None else torch.zeros(1, *sharp.shape[-2:], dtype=sharp.dtype)
        out["defocus_radius"] = torch.zeros(1, *sharp.shape[-2:], dtype=sharp.dtype)
    return out

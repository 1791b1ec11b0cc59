"""Pictures of the demo: a titled, labelled grid of panels, colour maps of blur fields, and
atomic file writes (Pillow only)."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["Panel", "Section", "atomic_write", "colormap", "figure_png", "png_bytes", "to_uint8"]

# Five anchors of a perceptually ordered dark-blue → yellow map (viridis-like), interpolated.
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp creates 0600; give the outputs the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_uint8(image: Tensor) -> np.ndarray:
    """``(1, C, H, W)`` in [0, 1] → ``(H, W, 3)`` uint8 (grey repeated)."""
    arr = torch.round(image[0].detach().double().clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
    arr = np.repeat(arr, 3, axis=0) if arr.shape[0] == 1 else arr
    return np.ascontiguousarray(arr.transpose(1, 2, 0))


def colormap(field: Tensor, size: tuple[int, int], vmax: float | None = None) -> np.ndarray:
    """A scalar field ``(1, 1, h, w)`` → ``(H, W, 3)`` uint8 colour picture of ``size`` (nearest
    upsampling keeps tiles visible), scaled to ``[0, vmax]`` (default: the field's maximum)."""
    f = field.detach().double()[0, 0]
    top = float(vmax if vmax is not None else f.max())
    x = (f / top).clamp(0, 1).cpu().numpy() if top > 0 else np.zeros(tuple(f.shape))
    pos = x * (len(_ANCHORS) - 1)
    i = np.clip(np.floor(pos).astype(int), 0, len(_ANCHORS) - 2)
    t = (pos - i)[..., None]
    rgb = (_ANCHORS[i] * (1 - t) + _ANCHORS[i + 1] * t).round().astype(np.uint8)
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.NEAREST))


def png_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Panel:
    """One picture with a two-line caption (``title`` and e.g. ``"27.31 dB"``)."""

    title: str
    image: np.ndarray
    note: str = ""


@dataclass
class Section:
    """A block of rows (one per scene) under a heading."""

    heading: str
    rows: list[tuple[str, list[Panel]]]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


_PLAIN = str.maketrans({"–": "-", "—": "-", "−": "-", "×": "x", "²": "^2", "σ": "sigma", "Γ": "Gamma", "†": "*"})


def _plain(text: str) -> str:
    """Text the bundled default font can draw (Pillow's built-in font has no en dash, minus or
    multiplication sign, which it renders as boxes)."""
    return text.translate(_PLAIN)


def _text(draw: Any, xy: tuple[int, int], text: str, **kw: Any) -> None:
    draw.text(xy, _plain(text), **kw)


def figure_png(title: str, sections: list[Section], subtitle: str = "") -> bytes:
    """A titled grid: per section a heading, per row a label and its panels with captions."""
    from PIL import Image, ImageDraw

    pad, cap_h, row_label_w = 8, 40, 110
    title_font, head_font, cap_font = _font(24), _font(18), _font(14)
    tiles = [p.image for s in sections for _, ps in s.rows for p in ps]
    if not tiles:
        raise ValueError("the figure has no panels")
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    ncol = max(len(ps) for s in sections for _, ps in s.rows)
    width = row_label_w + ncol * (tw + pad) + pad
    height = 70 + (24 if subtitle else 0)
    for s in sections:
        height += 34 + len(s.rows) * (th + cap_h + pad)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    _text(draw, (pad, pad), title, fill="black", font=title_font)
    y = 44
    if subtitle:
        _text(draw, (pad, y), subtitle, fill=(60, 60, 60), font=cap_font)
        y += 24
    y += 10
    for s in sections:
        _text(draw, (pad, y), s.heading, fill=(20, 40, 120), font=head_font)
        y += 34
        for label, panels in s.rows:
            _text(draw, (pad, y + cap_h + th // 2 - 10), label, fill="black", font=cap_font)
            for c, p in enumerate(panels):
                x0 = row_label_w + c * (tw + pad)
                _text(draw, (x0, y), p.title, fill="black", font=cap_font)
                if p.note:
                    _text(draw, (x0, y + 18), p.note, fill=(120, 0, 0), font=cap_font)
                canvas.paste(Image.fromarray(p.image), (x0, y + cap_h))
            y += th + cap_h + pad
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()

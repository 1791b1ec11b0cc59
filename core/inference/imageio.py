"""Reading and writing 8- and 16-bit images (PNG, JPEG, TIFF; grayscale and RGB).

* Images in memory are float32 tensors ``(C, H, W)`` in ``[0, 1]``, ``C`` = 1 or 3.
* PNG/JPEG go through Pillow. Pillow silently truncates **16-bit RGB PNGs** to 8 bits (and
  cannot write them), so those are decoded/encoded with ``imagecodecs`` (the codec library
  of tifffile's author) when it is installed; without it such files give a clear error
  instead of silently losing precision.
* TIFF goes through ``tifffile`` (8/16-bit integers, or float in ``[0, 1]``).
* Files are written atomically: to a temporary file in the target folder, flushed and
  fsynced, then moved into place with :func:`os.replace`, so a crash never leaves a
  half-written image under the final name.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ..errors import InputError

PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = PIL_SUFFIXES + TIFF_SUFFIXES
"""File suffixes :func:`read_image` understands (case-insensitive)."""

WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _png_bit_depth(path: Path) -> tuple[int, int] | None:
    """``(bit depth, colour type)`` from a PNG's IHDR chunk (bytes 24 and 25), or ``None``."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    depth, colour = struct.unpack(">BB", head[24:26])
    return depth, colour


NONFINITE = ("error", "repair")
"""What :func:`read_image` does with NaN/Inf samples of a float image: refuse it (default)
or repair them (``--repair-nonfinite``, see :func:`repair_nonfinite`)."""


def repair_nonfinite(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace the non-finite samples of an image array ``(H, W)`` or ``(H, W, C)``:
    ``+Inf`` → 1, ``−Inf`` → 0, ``NaN`` → the mean of its finite 8-neighbours (repeated
    inwards for larger holes; a channel with no finite sample at all becomes 0).
    Returns the repaired float32 array and the number of samples replaced (our choice).
    """
    out = np.array(arr, dtype=np.float64, copy=True)
    count = int((~np.isfinite(out)).sum())
    out[np.isposinf(out)] = 1.0
    out[np.isneginf(out)] = 0.0
    planes = out[..., None] if out.ndim == 2 else out
    for c in range(planes.shape[-1]):
        plane = planes[..., c]
        for _ in range(max(plane.shape)):
            bad = np.isnan(plane)
            if not bad.any():
                break
            good = np.where(bad, 0.0, plane)
            weight = (~bad).astype(np.float64)
            sums = np.zeros_like(plane)
            counts = np.zeros_like(plane)
            pg, pw = np.pad(good, 1), np.pad(weight, 1)
            for dy in (0, 1, 2):
                for dx in (0, 1, 2):
                    if dy == 1 and dx == 1:
                        continue
                    sums += pg[dy : dy + plane.shape[0], dx : dx + plane.shape[1]]
                    counts += pw[dy : dy + plane.shape[0], dx : dx + plane.shape[1]]
            fill = bad & (counts > 0)
            if not fill.any():
                plane[bad] = 0.0
                break
            plane[fill] = sums[fill] / counts[fill]
    return out.astype(np.float32), count


def _to_float(arr: np.ndarray, path: Path, nonfinite: str = "error") -> tuple[np.ndarray, int]:
    """Integer/float array → float32 in [0, 1] and its bit depth (8, 16, or 32 for float)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32), 1
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, 8
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0, 16
    if arr.dtype in (np.float16, np.float32, np.float64):
        bad = ~np.isfinite(arr)
        if bad.any():
            if nonfinite != "repair":
                where = np.argwhere(bad)[0]
                raise InputError(
                    f"{path}: {int(bad.sum())} sample(s) are NaN or infinite (first at row {where[0]}, column {where[1]}); "
                    f"the file is damaged — pass --repair-nonfinite to fill them from their neighbours"
                )
            arr, n = repair_nonfinite(arr)
            import warnings

            from ..errors import RestorekitWarning

            warnings.warn(f"{path}: repaired {n} non-finite sample(s) (NaN from the neighbours, +Inf → 1, -Inf → 0)",
                          RestorekitWarning, stacklevel=3)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"{path}: floating-point image values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]; "
                f"rescale it or save it as 8- or 16-bit integers"
            )
        return arr.astype(np.float32), 32
    raise InputError(
        f"{path}: unsupported bit depth / sample type {arr.dtype}; restorekit reads 8- and 16-bit "
        f"unsigned integer images (and float TIFF in [0, 1]); convert the file to 8- or 16-bit"
    )


def _pil_array(path: Path) -> np.ndarray:
    """Decode a PNG/JPEG/BMP/WebP with Pillow (16-bit RGB PNG with imagecodecs)."""
    png = _png_bit_depth(path) if path.suffix.lower() == ".png" else None
    if png is not None and png[0] == 16 and png[1] in (2, 6):  # 16-bit RGB / RGBA
        try:
            import imagecodecs
        except ImportError as exc:
            raise InputError(
                f"{path} is a 16-bit RGB PNG; Pillow would truncate it to 8 bits. Install "
                f"'imagecodecs' (pip install imagecodecs) to read it exactly, or convert it to 16-bit TIFF"
            ) from exc
        try:
            return np.asarray(imagecodecs.png_decode(path.read_bytes()))
        except Exception as exc:  # imagecodecs raises its own PngError
            raise InputError(f"{path}: cannot decode the PNG, the file is corrupt ({exc})") from exc
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
                im = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
            elif mode == "F":
                raise InputError(f"{path}: 32-bit float images are only supported as TIFF")
            return np.asarray(im)
    except UnidentifiedImageError as exc:
        raise InputError(f"{path}: not a readable image (the file is corrupt or not in a known format)") from exc
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: refused, the image is larger than Pillow's decompression-bomb limit ({exc})") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: cannot read the file (permission denied)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: cannot decode the image, the file is corrupt or truncated ({exc})") from exc


def _tiff_array(path: Path) -> np.ndarray:
    import tifffile

    try:
        arr = np.asarray(tifffile.imread(path))
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, …
        raise InputError(f"{path}: cannot decode the TIFF, the file is corrupt ({exc})") from exc
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) storage
    return arr


def read_image_with_depth(
    path: str | Path, channels: int | None = None, warn_alpha: bool = True, nonfinite: str = "error"
) -> tuple[Tensor, int]:
    """Read an image as ``(C, H, W)`` float32 in ``[0, 1]`` and return its bit depth.

    Args:
        path: PNG, JPEG, BMP, WebP or TIFF file.
        channels: ``None`` keeps the file's channels (1 or 3); ``1`` converts RGB to luma
            (ITU-R BT.601 via :func:`kornia.color.rgb_to_grayscale`); ``3`` repeats gray.
        warn_alpha: warn (:class:`restorekit.errors.RestorekitWarning`) when an alpha channel
            is dropped.
        nonfinite: ``"error"`` (NaN/Inf samples of a float image are an :class:`InputError`)
            or ``"repair"`` (see :func:`repair_nonfinite`).

    Returns:
        ``(image, bits)`` with ``bits`` 8, 16 (or 32 for a float TIFF, 1 for bilevel).

    Raises:
        InputError: missing file, unknown suffix, corrupt data, unsupported bit depth.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image '{p}' does not exist" if not p.exists() else f"'{p}' is not a file")
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"{p}: unknown image type '{suffix}'; supported: {', '.join(IMAGE_SUFFIXES)}")
    try:
        arr = _tiff_array(p) if suffix in TIFF_SUFFIXES else _pil_array(p)
    except MemoryError as exc:
        raise InputError(f"{p}: the image is too large to decode in memory") from exc
    if arr.ndim == 3 and arr.shape[-1] in (2, 4):
        if warn_alpha:
            import warnings

            from ..errors import RestorekitWarning

            opaque = bool((arr[..., -1] == np.iinfo(arr.dtype).max).all()) if arr.dtype.kind == "u" else False
            warnings.warn(
                f"{p}: dropped its alpha channel ({'fully opaque' if opaque else 'with transparency'}); restoration uses the "
                f"colour channels only and the output has no alpha",
                RestorekitWarning, stacklevel=2,
            )
        arr = arr[..., :-1]  # drop the alpha channel (restoration works on colour only)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise InputError(f"{p}: expected a grayscale or RGB image, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{p}: the image is empty")
    if arr.dtype == np.int32 and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # Pillow's 32-bit "I" mode holding 16-bit samples
    if nonfinite not in NONFINITE:
        raise InputError(f"nonfinite must be one of {', '.join(NONFINITE)}, got {nonfinite!r}")
    data, bits = _to_float(arr, p, nonfinite)
    t = torch.from_numpy(np.ascontiguousarray(data))
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1).contiguous()
    if channels is not None:
        t = convert_channels(t, channels)
    return t, bits


def read_image(path: str | Path, channels: int | None = None, warn_alpha: bool = True, nonfinite: str = "error") -> Tensor:
    """Read an image as a float32 ``(C, H, W)`` tensor in ``[0, 1]`` (see :func:`read_image_with_depth`)."""
    return read_image_with_depth(path, channels, warn_alpha, nonfinite)[0]


def convert_channels(image: Tensor, channels: int) -> Tensor:
    """``(C, H, W)`` → ``(channels, H, W)``: RGB→gray by BT.601 luma, gray→RGB by repetition."""
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    c = image.shape[-3]
    if c == channels:
        return image
    if channels == 3 and c == 1:
        return image.expand(*image.shape[:-3], 3, *image.shape[-2:]).contiguous()
    if channels == 1 and c == 3:
        import kornia

        return kornia.color.rgb_to_grayscale(image)
    raise InputError(f"cannot convert a {c}-channel image to {channels} channels")


def quantize(image: Tensor, bits: int) -> np.ndarray:
    """``(C, H, W)`` float in [0, 1] → ``(H, W)`` or ``(H, W, C)`` uint8/uint16, rounded."""
    if bits not in (8, 16):
        raise InputError(f"output bit depth must be 8 or 16, got {bits}")
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise InputError(f"write one image at a time; got a batch of {image.shape[0]}")
        image = image[0]
    if image.dim() == 2:
        image = image[None]
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise InputError(f"expected an image (C, H, W) with C = 1 or 3, got {tuple(image.shape)}")
    peak = 255.0 if bits == 8 else 65535.0
    arr = torch.round(image.detach().double().clamp(0.0, 1.0) * peak).cpu().numpy()
    arr = arr.astype(np.uint8 if bits == 8 else np.uint16)
    return arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))


def write_image(path: str | Path, image: Tensor, bits: int = 8, quality: int = 95) -> Path:
    """Write ``image`` ``(C, H, W)`` (or ``(1, C, H, W)``) in [0, 1] atomically.

    Args:
        path: ``.png`` (8/16-bit), ``.jpg``/``.jpeg`` (8-bit), ``.tif``/``.tiff`` (8/16-bit).
        bits: 8 or 16.
        quality: JPEG quality (1–95).

    Returns:
        the written path.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputError(f"{p}: cannot write '{suffix}' images; use one of {', '.join(WRITE_SUFFIXES)}")
    if suffix in (".jpg", ".jpeg") and bits != 8:
        raise InputError(f"{p}: JPEG stores 8-bit images only; write 16-bit output as .png or .tif")
    arr = quantize(image, bits)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=suffix + ".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_encode(arr, suffix, quality, p))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual file mode
        os.replace(tmp_name, p)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _encode(arr: np.ndarray, suffix: str, quality: int, path: Path) -> bytes:
    import io

    buf = io.BytesIO()
    if suffix in TIFF_SUFFIXES:
        import tifffile

        tifffile.imwrite(buf, arr, photometric="rgb" if arr.ndim == 3 else "minisblack")
        return buf.getvalue()
    if suffix == ".png" and arr.dtype == np.uint16 and arr.ndim == 3:
        try:
            import imagecodecs
        except ImportError as exc:
            raise InputError(
                f"{path}: writing a 16-bit RGB PNG needs 'imagecodecs' (pip install imagecodecs); "
                f"or write 16-bit TIFF (.tif) instead"
            ) from exc
        return bytes(imagecodecs.png_encode(arr))
    im = Image.fromarray(arr)
    if suffix == ".png":
        im.save(buf, format="PNG")
    else:
        im.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()

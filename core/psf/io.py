"""Kernel (PSF) files: ``load_kernel`` / ``save_kernel`` for ``.npy``, ``.npz``, ``.png``
and ``.mat``.

Kernels are arrays ``k[row, col]`` in MATLAB orientation (row = y downwards, column = x to
the right) and are never transposed on load or save. Loaded kernels are validated
(2-D, non-empty, finite, non-negative, not all zero) and normalised to sum 1.

``load_kernel(..., strict=True)`` (what ``restorekit deblur --kernel`` uses) also refuses files
that look like a *display picture* of a PSF rather than the PSF itself
(:func:`picture_problems`): a colour picture, a nearest-neighbour enlargement, or a PSF drawn on
a grey or white background. Such a file loads without error but deblurs to garbage (a demo
preview passed to ``--kernel`` once gave 10.19 dB from a 22.99 dB input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from restorekit.errors import InputError

__all__ = ["KERNEL_SUFFIXES", "check_kernel_array", "check_kernel_picture", "load_kernel", "picture_problems", "save_kernel",
           "sibling_array"]

KERNEL_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".png", ".mat")

_LUMA = np.array([0.299, 0.587, 0.114])
"""ITU-R BT.601 luma weights (as PIL's ``convert("L")``, computed here in float64)."""


def check_kernel_array(array: Any, source: str = "kernel", normalize: bool = True) -> np.ndarray:
    """Validate a PSF and return it as a float64 ``(h, w)`` array (summing to 1 if
    ``normalize``).

    Raises:
        InputError: not 2-D (after dropping singleton axes), empty, NaN/Inf, negative
            entries, or all zero.
    """
    arr = np.asarray(array)
    if arr.dtype == object:
        raise InputError(f"{source}: holds a {arr.shape} object/cell array, not a numeric kernel; select one kernel from it")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{source}: kernel has non-numeric dtype {arr.dtype}")
    if arr.size == 0:
        raise InputError(f"{source}: kernel is empty (shape {arr.shape})")
    if arr.ndim > 2:
        arr = arr.squeeze()
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InputError(f"{source}: a kernel must be 2-D (h, w), got shape {np.asarray(array).shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{source}: kernel contains NaN or Inf values")
    if np.any(arr < 0):
        raise InputError(
            f"{source}: kernel has negative entries (min {arr.min():.3g}); a PSF must be non-negative "
            f"(clip it with np.clip(k, 0, None) if the negatives are round-off)"
        )
    total = arr.sum()
    if total <= 0:
        raise InputError(f"{source}: kernel is all zero; a PSF must have positive mass")
    return arr / total if normalize else arr


RGB_SPREAD_MAX = 0.02
"""An RGB kernel picture whose channels differ anywhere by more than this fraction of its
maximum is a colour picture (a colormap display), not a grey PSF saved as RGB."""
BACKGROUND_LEVEL_MIN = 0.05
"""A border level at or above this fraction of the maximum counts as a nonzero background."""
BACKGROUND_TOL = 0.02
"""Pixels within this fraction of the maximum of the border level are "at the background"."""
BACKGROUND_BORDER_SHARE = 0.75
"""Share of the border pixels that must sit at the background level."""
BACKGROUND_AREA_SHARE = 0.5
"""Share of all pixels that must sit at the background level."""
BACKGROUND_CONTRAST_MIN = 0.25
"""Something must differ from the background by at least this fraction of the maximum (a
uniform box blur, which is flat everywhere, is a PSF)."""
PICTURE_MIN_SIDE = 7
"""The background and enlargement checks only look at kernels at least this large."""
UPSCALE_MIN_LEVELS = 3
"""A block-structured kernel counts as an enlarged picture only with at least this many
distinct nonzero values (a box kernel on a zero canvas is block-structured too)."""


def _segments(change: np.ndarray) -> np.ndarray:
    """Run lengths along one axis given ``change[j]`` = "line j+1 differs from line j"."""
    cuts = np.flatnonzero(change) + 1
    return np.diff(np.concatenate([[0], cuts, [change.size + 1]]))


def picture_problems(array: Any, channel_spread: float = 0.0) -> list[str]:
    """What makes a kernel look like a display picture rather than a PSF (empty: nothing).

    Three signs, each with thresholds that pass every real PSF tested (the 8 Levin et al.
    kernels as float arrays and as 8-bit PNGs, and restorekit's disk, Gaussian, Boracchi–Foi
    and Gaussian-process generators; ``tests/psf/test_psf_display_guard.py``):

    * **colour**: ``channel_spread`` (the largest difference between the R, G and B values
      of one pixel, over the maximum) above :data:`RGB_SPREAD_MAX`. Equal channels (a grey
      PSF saved as RGB) are fine.
    * **enlarged**: the kernel (at least :data:`PICTURE_MIN_SIDE` on a side) is made of
      constant blocks at least 2 pixels wide along *both* axes (every run of equal rows and of
      equal columns is ≥ 2 long) and holds at least :data:`UPSCALE_MIN_LEVELS` distinct
      nonzero values: a picture enlarged by nearest-neighbour resizing. A PSF varies from
      pixel to pixel inside its support (a disk's edge, a trajectory, a Gaussian).
    * **background**: the border sits at one nonzero level (median border value ≥
      :data:`BACKGROUND_LEVEL_MIN` of the maximum, ≥ :data:`BACKGROUND_BORDER_SHARE` of the
      border pixels within :data:`BACKGROUND_TOL` of it) that also covers ≥
      :data:`BACKGROUND_AREA_SHARE` of all pixels, and something else differs from it by ≥
      :data:`BACKGROUND_CONTRAST_MIN`: a PSF pasted on a grey or white background. A PSF
      falls to (nearly) zero at its border; a uniform box kernel has no contrast and passes.

    Args:
        array: the kernel ``(h, w)``, ≥ 0 (as :func:`check_kernel_array` returns it).
        channel_spread: for an RGB picture, the spread described above (0 otherwise).
    """
    a = np.asarray(array, dtype=np.float64)
    problems: list[str] = []
    top = float(a.max()) if a.size else 0.0
    if top <= 0:
        return problems
    if channel_spread > RGB_SPREAD_MAX:
        problems.append(
            f"it is a colour picture (its red, green and blue values differ by up to {100 * channel_spread:.0f}% of the "
            f"maximum), e.g. a colormap display; a PSF is one grey channel"
        )
    h, w = a.shape
    if min(h, w) < PICTURE_MIN_SIDE:
        return problems
    runs_y = _segments(np.any(a[1:] != a[:-1], axis=1))
    runs_x = _segments(np.any(a[:, 1:] != a[:, :-1], axis=0))
    if runs_y.min() >= 2 and runs_x.min() >= 2:
        levels = np.unique(a[a > 0]).size
        if levels >= UPSCALE_MIN_LEVELS:
            by, bx = int(np.median(runs_y)), int(np.median(runs_x))
            problems.append(
                f"it is made of constant blocks (about {by}×{bx} pixels), a picture enlarged by nearest-neighbour "
                f"resizing; a PSF varies from pixel to pixel"
            )
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]]) / top
    level = float(np.median(border))
    if level >= BACKGROUND_LEVEL_MIN:
        at_border = float(np.mean(np.abs(border - level) <= BACKGROUND_TOL))
        rel = a / top
        area = float(np.mean(np.abs(rel - level) <= BACKGROUND_TOL))
        contrast = float(np.abs(rel - level).max())
        if at_border >= BACKGROUND_BORDER_SHARE and area >= BACKGROUND_AREA_SHARE and contrast >= BACKGROUND_CONTRAST_MIN:
            problems.append(
                f"{int(100 * area)}% of its pixels, its border included, sit at one nonzero level ({100 * level:.0f}% of "
                f"the maximum): a picture's grey or white background; a PSF falls to zero at its border"
            )
    return problems


def check_kernel_picture(
    array: Any, source: str = "kernel", channel_spread: float = 0.0, force_hint: str = "load it with load_kernel(..., strict=False)",
    alternative: str | None = None,
) -> None:
    """Raise :class:`InputError` when :func:`picture_problems` finds any (naming them and the fix).

    Args:
        force_hint: how the caller accepts the kernel anyway (e.g. ``--force-kernel``).
        alternative: a PSF array file to suggest instead (e.g. the ``.npy`` beside a preview).
    """
    problems = picture_problems(array, channel_spread)
    if not problems:
        return
    instead = (f"pass the PSF array '{alternative}' beside it instead" if alternative
               else "pass the PSF array itself instead (.npy; `restorekit demo` writes one beside each preview)")
    raise InputError(
        f"{source} looks like a display picture of a PSF, not a PSF: {'; '.join(problems)}. Deblurring with it gives "
        f"a wrong result; {instead}, or {force_hint} to use this file as it is"
    )


def sibling_array(path: str | Path) -> Path | None:
    """The PSF array file beside a picture, if there is one: ``x_psf_preview.png`` →
    ``x_psf.npy`` (also ``x_psf_preview.npy``, and ``.npz``/``.mat``)."""
    p = Path(path)
    stems = [p.stem]
    for tail in ("_preview", "_display", "_picture"):
        if p.stem.endswith(tail):
            stems.insert(0, p.stem[: -len(tail)])
    for stem in stems:
        for suffix in (".npy", ".npz", ".mat"):
            candidate = p.with_name(stem + suffix)
            if candidate.is_file():
                return candidate
    return None


def _split_key(path: str | Path, key: str | None) -> tuple[Path, str | None]:
    text = str(path)
    if key is None and ":" in Path(text).name:
        name, _, inner = Path(text).name.rpartition(":")
        if Path(name).suffix.lower() in (".npz", ".mat"):
            return Path(text).with_name(name), inner
    return Path(text), key


def _pick(arrays: dict[str, Any], key: str | None, where: str) -> Any:
    if key is not None:
        if key not in arrays:
            raise InputError(f"{where} has no array '{key}'; available: {', '.join(sorted(arrays)) or 'none'}")
        return arrays[key]
    if len(arrays) != 1:
        names = ", ".join(sorted(arrays)) or "none"
        raise InputError(
            f"{where} holds {len(arrays)} arrays ({names}); name one with '{Path(where).name}:NAME' or key='NAME'"
        )
    return next(iter(arrays.values()))


def _load_png(p: Path) -> tuple[np.ndarray, float]:
    """The kernel (luma for RGB) and the RGB channel spread over the maximum (0 for grey)."""
    from PIL import Image, UnidentifiedImageError

    try:
        return _png_array(p, Image)
    except UnidentifiedImageError as exc:
        raise InputError(f"kernel file '{p}' is not a readable PNG image (corrupt, or another format with a .png name)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"kernel file '{p}': cannot decode the PNG, the file is corrupt or truncated ({exc})") from exc


def _png_array(p: Path, Image: Any) -> tuple[np.ndarray, float]:
    with Image.open(p) as img:
        mode = img.mode
        if mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(img, dtype=np.float64), 0.0
        if mode == "F":
            return np.asarray(img, dtype=np.float64), 0.0
        if mode in ("L", "LA"):
            return np.asarray(img.convert("L"), dtype=np.float64), 0.0
        if mode == "1":
            return np.asarray(img.convert("L"), dtype=np.float64), 0.0
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    top = float(rgb.max())
    spread = float((rgb.max(axis=2) - rgb.min(axis=2)).max()) / top if top > 0 else 0.0
    return rgb @ _LUMA, spread


_PICKLED = "holds pickled Python objects, which restorekit never loads (allow_pickle=False); save the kernel with np.save(path, array) from a numeric array"


def _load_npy(p: Path) -> np.ndarray:
    with p.open("rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        raise InputError(f"kernel file '{p}' is not a .npy array (it has no NumPy header); write it with np.save(path, array)")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"kernel file '{p}' {_PICKLED}") from exc
        raise InputError(f"kernel file '{p}' is not a readable .npy array ({' '.join(str(exc).split())})") from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"kernel file '{p}' is not a readable .npy array ({exc})") from exc


def _load_npz(p: Path, key: str | None, where: str) -> np.ndarray:
    import zipfile

    try:
        with np.load(p, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InputError(f"kernel file '{p}' is a .npy array with a .npz name; rename it to .npy")
            return _pick({k: data[k] for k in data.files}, key, where)
    except InputError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"kernel file '{p}' {_PICKLED}") from exc
        raise InputError(f"kernel file '{p}' is not a readable .npz archive ({' '.join(str(exc).split())})") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"kernel file '{p}' is not a readable .npz archive ({exc})") from exc


def load_kernel(
    path: str | Path, key: str | None = None, normalize: bool = True, strict: bool = False,
    force_hint: str = "load it with load_kernel(..., strict=False)",
) -> np.ndarray:
    """Read a blur kernel from a file.

    Args:
        path: ``.npy``; ``.npz`` (the single array, or ``file.npz:NAME``); ``.png``
            (8- or 16-bit grayscale, or RGB converted to BT.601 luma); ``.mat``
            (``scipy.io.loadmat``; the single variable or ``file.mat:NAME``).
        key: array name inside a ``.npz``/``.mat`` (alternative to ``:NAME``).
        normalize: divide by the sum (default).
        strict: also refuse a file that looks like a display picture of a PSF
            (:func:`picture_problems`: colour, nearest-neighbour enlarged, on a background),
            pointing at the PSF array beside it when there is one.
        force_hint: how the caller accepts such a file anyway (the text of the error).

    Returns:
        ``(h, w)`` float64, ≥ 0, summing to 1, in the file's orientation (no transpose).

    Raises:
        InputError: missing file, unknown suffix, MATLAB v7.3 files, ambiguous or missing
            array names, and invalid kernels (negative, NaN, empty, all zero); with
            ``strict``, display pictures.
    """
    p, key = _split_key(path, key)
    if not p.is_file():
        raise InputError(f"kernel file '{p}' does not exist")
    suffix = p.suffix.lower()
    where = str(p)
    spread = 0.0
    if suffix == ".npy":
        arr = _load_npy(p)
    elif suffix == ".npz":
        arr = _load_npz(p, key, where)
    elif suffix == ".png":
        arr, spread = _load_png(p)
    elif suffix == ".mat":
        import scipy.io

        try:
            data = scipy.io.loadmat(p)
        except NotImplementedError as exc:  # scipy's message for v7.3 (HDF5) files
            raise InputError(
                f"{where} is a MATLAB v7.3 (HDF5) file, which scipy cannot read; convert the kernel to .npy "
                f"(in MATLAB: save('k.mat', 'k', '-v7'), or in Python with h5py: "
                f"np.save('k.npy', np.array(h5py.File('{p.name}')['k']).T) — h5py returns MATLAB arrays transposed)"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - MatReadError, ValueError, … for a corrupt file
            raise InputError(f"kernel file '{where}' is not a readable MATLAB file ({' '.join(str(exc).split())})") from exc
        arr = _pick({k: v for k, v in data.items() if not k.startswith("__")}, key, where)
    else:
        raise InputError(f"unsupported kernel file '{p}'; a kernel is an image or an array: use one of {', '.join(KERNEL_SUFFIXES)}")
    out = check_kernel_array(arr, where, normalize=normalize)
    if strict:
        alt = sibling_array(p) if suffix == ".png" else None
        check_kernel_picture(out, f"kernel '{where}'", spread, force_hint=force_hint,
                             alternative=str(alt) if alt is not None else None)
    return out


def save_kernel(path: str | Path, kernel: Any, key: str = "kernel") -> Path:
    """Write a kernel ``(h, w)`` (array or tensor) to ``.npy``, ``.npz``, ``.png`` or ``.mat``.

    ``.png`` stores a 16-bit grayscale image scaled so that the maximum is 65535 (the
    scale is lost; :func:`load_kernel` renormalises to sum 1, exact up to 16-bit
    quantisation). ``.npz``/``.mat`` store the array under ``key``.

    Returns:
        the path written.
    """
    p = Path(path)
    if hasattr(kernel, "detach"):
        kernel = kernel.detach().cpu().numpy()
    arr = check_kernel_array(kernel, "save_kernel", normalize=False)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        np.save(p, arr)
    elif suffix == ".npz":
        np.savez(p, **{key: arr})
    elif suffix == ".mat":
        import scipy.io

        scipy.io.savemat(p, {key: arr})
    elif suffix == ".png":
        from PIL import Image

        img = np.round(arr / arr.max() * 65535).astype(np.uint16)
        Image.fromarray(img).save(p)
    else:
        raise InputError(f"unsupported kernel file '{p.name}'; use one of {', '.join(KERNEL_SUFFIXES)}")
    return p

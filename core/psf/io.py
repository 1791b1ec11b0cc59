"""Kernel (PSF) files: ``load_kernel`` / ``save_kernel`` for ``.npy``, ``.npz``, ``.png``
and ``.mat``.

Kernels are arrays ``k[row, col]`` in MATLAB orientation (row = y downwards, column = x to
the right) and are never transposed on load or save. Loaded kernels are validated
(2-D, non-empty, finite, non-negative, not all zero) and normalised to sum 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from restorekit.errors import InputError

__all__ = ["KERNEL_SUFFIXES", "check_kernel_array", "load_kernel", "save_kernel"]

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


def _load_png(p: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        return _png_array(p, Image)
    except UnidentifiedImageError as exc:
        raise InputError(f"kernel file '{p}' is not a readable PNG image (corrupt, or another format with a .png name)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"kernel file '{p}': cannot decode the PNG, the file is corrupt or truncated ({exc})") from exc


def _png_array(p: Path, Image: Any) -> np.ndarray:
    with Image.open(p) as img:
        mode = img.mode
        if mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(img, dtype=np.float64)
        if mode == "F":
            return np.asarray(img, dtype=np.float64)
        if mode in ("L", "LA"):
            return np.asarray(img.convert("L"), dtype=np.float64)
        if mode == "1":
            return np.asarray(img.convert("L"), dtype=np.float64)
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    return rgb @ _LUMA


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


def load_kernel(path: str | Path, key: str | None = None, normalize: bool = True) -> np.ndarray:
    """Read a blur kernel from a file.

    Args:
        path: ``.npy``; ``.npz`` (the single array, or ``file.npz:NAME``); ``.png``
            (8- or 16-bit grayscale, or RGB converted to BT.601 luma); ``.mat``
            (``scipy.io.loadmat``; the single variable or ``file.mat:NAME``).
        key: array name inside a ``.npz``/``.mat`` (alternative to ``:NAME``).
        normalize: divide by the sum (default).

    Returns:
        ``(h, w)`` float64, ≥ 0, summing to 1, in the file's orientation (no transpose).

    Raises:
        InputError: missing file, unknown suffix, MATLAB v7.3 files, ambiguous or missing
            array names, and invalid kernels (negative, NaN, empty, all zero).
    """
    p, key = _split_key(path, key)
    if not p.is_file():
        raise InputError(f"kernel file '{p}' does not exist")
    suffix = p.suffix.lower()
    where = str(p)
    if suffix == ".npy":
        arr = _load_npy(p)
    elif suffix == ".npz":
        arr = _load_npz(p, key, where)
    elif suffix == ".png":
        arr = _load_png(p)
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
    return check_kernel_array(arr, where, normalize=normalize)


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

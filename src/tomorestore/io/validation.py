"""Checks that an array is a usable 3D volume."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

_AXES = ("Z", "Y", "X")
# Check finiteness this many voxels at a time: a 2 GB memory-mapped volume is never
# loaded (let alone converted to float64) in one piece.
_CHUNK_VOXELS = 1 << 24


def count_non_finite(array: np.ndarray) -> tuple[int, int]:
    """Count NaN and infinite values, reading the array slab by slab along axis 0.

    Parameters
    ----------
    array : numpy.ndarray
        Any numeric array (integer arrays have neither).

    Returns
    -------
    n_nan, n_inf : int
    """
    if array.dtype.kind not in "fc" or array.size == 0:
        return 0, 0
    plane = max(1, int(np.prod(array.shape[1:])))
    step = max(1, _CHUNK_VOXELS // plane)
    n_nan = n_inf = 0
    for start in range(0, array.shape[0], step):
        chunk = np.asarray(array[start : start + step])
        n_nan += int(np.count_nonzero(np.isnan(chunk)))
        n_inf += int(np.count_nonzero(np.isinf(chunk)))
    return n_nan, n_inf


def check_volume_array(array: Any, *, name: str = "volume", min_size: int = 1) -> np.ndarray:
    """Check that ``array`` is a real, finite, non-empty 3D ``(Z, Y, X)`` volume.

    Parameters
    ----------
    array : array-like
        The candidate volume (a memory map is read slab by slab, never loaded whole).
    name : str
        What the array is, for error messages (e.g. ``"even half"``).
    min_size : int
        Every axis must have at least this many voxels.

    Returns
    -------
    numpy.ndarray
        The array (not copied, dtype unchanged).

    Raises
    ------
    InputError
        If the array is not 3D, is complex or non-numeric, is empty, has an axis shorter
        than ``min_size``, or contains NaN or infinite values.
    """
    data = array if isinstance(array, np.ndarray) else np.asarray(array)
    if data.ndim != 3:
        raise InputError(
            f"{name}: expected a 3D volume (Z, Y, X), got shape {tuple(data.shape)}. "
            "Give a single-channel tomogram; for a 2D image or a stack of several "
            "channels/time points, select or convert a single 3D volume first."
        )
    if data.dtype.kind == "c":
        raise InputError(
            f"{name}: complex data ({data.dtype}) is not a tomogram. Give the real-valued "
            "reconstruction (e.g. take the real part or the inverse FFT first)."
        )
    if data.dtype.kind not in "buif":
        raise InputError(
            f"{name}: expected numeric voxels, got dtype {data.dtype}. "
            "Convert the volume to a numeric type such as float32."
        )
    if data.size == 0:
        raise InputError(
            f"{name}: the volume is empty (shape {tuple(data.shape)}). "
            "Check that the right file or layer was chosen."
        )
    too_small = [f"{_AXES[i]}={n}" for i, n in enumerate(data.shape) if n < min_size]
    if too_small:
        raise InputError(
            f"{name}: shape {tuple(data.shape)} is too small: every axis needs at least "
            f"{min_size} voxels ({', '.join(too_small)}). Use a larger volume or a smaller "
            "patch/tile size."
        )
    n_nan, n_inf = count_non_finite(data)
    if n_nan or n_inf:
        raise InputError(
            f"{name}: contains {n_nan} NaN and {n_inf} infinite values out of {data.size}. "
            "Fix them before use, e.g. replace them with numpy.nan_to_num(volume, nan=0.0) "
            "or crop/mask the bad region."
        )
    return data


def check_halves(items: Any) -> list[np.ndarray]:
    """One tomogram or an even/odd pair, checked: ``[tomogram]`` or ``[even, odd]`` arrays.

    The one place where training and restoration check their input volumes.

    Parameters
    ----------
    items : array-like, Volume, or a list/tuple of one or two of them
        ``Volume`` objects contribute their ``data`` (memory maps are not loaded).

    Returns
    -------
    list of numpy.ndarray
        The checked arrays (not copied).

    Raises
    ------
    InputError
        For a count other than one or two, a bad volume (see :func:`check_volume_array`)
        or halves of different shapes.
    """
    volumes = list(items) if isinstance(items, (list, tuple)) else [items]
    if not 1 <= len(volumes) <= 2:
        raise InputError(f"give one tomogram or two halves (even, odd), got {len(volumes)}.")
    names = ["tomogram"] if len(volumes) == 1 else ["even half", "odd half"]
    arrays = [
        check_volume_array(getattr(item, "data", item), name=name)
        for item, name in zip(volumes, names, strict=True)
    ]
    if len(arrays) == 2 and arrays[0].shape != arrays[1].shape:
        raise InputError(
            f"even and odd halves differ in shape: {arrays[0].shape} vs {arrays[1].shape}. "
            "Give halves reconstructed from the same tilt series with the same size."
        )
    return arrays


def choose_inputs(input: Any, even: Any, odd: Any, *, flags: bool = False) -> list[Any]:
    """``[input]`` or ``[even, odd]``: exactly one tomogram or one complete pair.

    Parameters
    ----------
    input, even, odd : object or None
        What the caller was given (paths, arrays, volumes); None when absent.
    flags : bool
        Word the messages for the command line (``--even``) instead of Python (``even=``).

    Raises
    ------
    InputError
        When both kinds, neither, or only one half is given.
    """
    name = (lambda n: f"--{n}") if flags else (lambda n: f"{n}=")
    if input is not None and (even is not None or odd is not None):
        raise InputError(
            f"give either one tomogram ({name('input')}) or even/odd halves ({name('even')}, "
            f"{name('odd')}), not both."
        )
    if input is None and even is None and odd is None:
        raise InputError(
            f"no tomogram given: use {name('input')}T, or {name('even')}E and {name('odd')}O."
        )
    if input is None and (even is None or odd is None):
        missing = name("odd") if odd is None else name("even")
        raise InputError(f"{missing} is missing: even/odd halves come in pairs.")
    return [input] if input is not None else [even, odd]

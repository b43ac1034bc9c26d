"""Read and write tomograms by file extension; turn paths/arrays into :class:`Volume`."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .mrc import MRC_READ_SUFFIXES, MRC_WRITE_SUFFIXES, VoxelSizeWarning, read_mrc, write_mrc
from .tiff import TIFF_SUFFIXES, read_tiff
from .validation import check_volume_array
from .volume import Volume, as_triple

READ_SUFFIXES = MRC_READ_SUFFIXES + TIFF_SUFFIXES
WRITE_SUFFIXES = MRC_WRITE_SUFFIXES


def read_volume(path: str | os.PathLike[str], *, mmap: bool = True) -> Volume:
    """Read a tomogram from an MRC-family or TIFF file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.mrc .rec .st .map .ali`` (MRC modes 0, 1, 2, 6, 12) or ``.tif .tiff``
        (ImageJ z-stacks; ``spacing``, X/YResolution and ``unit`` give the voxel size).
    mmap : bool
        Memory-map the data instead of reading it (read-only; falls back to reading for
        compressed TIFFs).

    Returns
    -------
    Volume
        Data ``(Z, Y, X)`` in the file's dtype, voxel size and origin in Å ``(Z, Y, X)``.

    Raises
    ------
    InputError
        Missing file, unsupported extension or MRC mode, truncated or damaged file, data
        that is not one 3D volume.

    Warns
    -----
    VoxelSizeWarning
        When the file has no voxel size for an axis (1 Å is used for it).
    """
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    if suffix not in READ_SUFFIXES:
        raise InputError(
            f"{file}: unsupported file type {suffix or '(no extension)'!r}. "
            f"Supported: {' '.join(READ_SUFFIXES)}."
        )
    if not file.is_file():
        raise InputError(f"{file}: no such file. Check the path.")
    if suffix in TIFF_SUFFIXES:
        return read_tiff(file, mmap=mmap)
    return read_mrc(file, mmap=mmap)


def write_volume(
    path: str | os.PathLike[str],
    volume_or_array: Volume | np.ndarray,
    *,
    voxel_size: Any = None,
    origin: Any = None,
) -> Path:
    """Write a volume as a float32 MRC file (mode 2), atomically.

    The data goes to a temporary file in the target folder that is renamed over ``path``
    only when complete: an existing file is never left half-written.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, ``.mrc``, ``.rec`` or ``.map``. Overwritten if it exists.
    volume_or_array : Volume or numpy.ndarray
        The ``(Z, Y, X)`` data; a :class:`Volume` also gives voxel size and origin.
    voxel_size : float or 3 floats, optional
        Å per voxel ``(Z, Y, X)``; overrides the volume's. Default: the volume's, or 1 Å
        for a bare array.
    origin : 3 floats, optional
        Origin in Å ``(Z, Y, X)``; overrides the volume's. Default: the volume's, or 0.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        Wrong extension, missing folder, data not 3D, or data with NaN/inf values.
    """
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputError(
            f"{file}: cannot write {suffix or '(no extension)'!r} files; tomorestore writes "
            f"MRC: use one of {' '.join(WRITE_SUFFIXES)}."
        )
    if not file.parent.is_dir():
        raise InputError(f"{file}: the folder {file.parent} does not exist; create it first.")
    if isinstance(volume_or_array, Volume):
        data = volume_or_array.data
        voxel_size = volume_or_array.voxel_size if voxel_size is None else voxel_size
        origin = volume_or_array.origin if origin is None else origin
    else:
        data = volume_or_array
    data = check_volume_array(data, name=f"data for {file.name}")
    voxel = as_triple(1.0 if voxel_size is None else voxel_size, name="voxel_size", positive=True)
    where = as_triple(0.0 if origin is None else origin, name="origin", positive=False)
    return write_mrc(file, data, voxel_size=voxel, origin=where)


def as_volume(
    obj: Volume | str | os.PathLike[str] | np.ndarray, *, voxel_size: Any = None
) -> Volume:
    """Turn a :class:`Volume`, a file path or an array into a :class:`Volume`.

    Parameters
    ----------
    obj : Volume, str, os.PathLike or array-like
        A path is read with :func:`read_volume` (memory-mapped).
    voxel_size : float or 3 floats, optional
        Å per voxel ``(Z, Y, X)``. Overrides the volume's or file's voxel size (and then
        silences the missing-voxel-size warning); default for an array: 1 Å.

    Returns
    -------
    Volume
    """
    if isinstance(obj, Volume):
        volume = obj
    elif isinstance(obj, (str, os.PathLike)):
        with warnings.catch_warnings():
            if voxel_size is not None:
                warnings.simplefilter("ignore", VoxelSizeWarning)
            volume = read_volume(obj)
    else:
        data = check_volume_array(obj)
        return Volume(data=data, voxel_size=1.0 if voxel_size is None else voxel_size)
    if voxel_size is not None:
        volume = Volume(
            data=volume.data, voxel_size=voxel_size, origin=volume.origin, header=volume.header
        )
    return volume

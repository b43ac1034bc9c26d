"""Outputs that never hold a whole volume in memory: a memory-mapped MRC file being
written (atomically) and scratch arrays in hidden, self-deleting files.

The restored tomogram is accumulated straight into the data block of its output file, so
a tomogram larger than the computer's memory can be restored: the operating system keeps
only the pages being worked on in memory and writes the rest to disk.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import mrcfile
import numpy as np

from .._version import __version__
from ..errors import InputError
from ..io import atomic_write
from .slabs import finite_stats

Triple = tuple[float, float, float]


@contextlib.contextmanager
def mrc_output(
    path: str | os.PathLike[str],
    shape: tuple[int, int, int],
    *,
    voxel_size: Triple,
    origin: Triple,
) -> Iterator[np.memmap]:
    """Write a new float32 MRC file (mode 2) through a memory map of its data block.

    Yields the zero-filled, writable ``(Z, Y, X)`` data block of a temporary file beside
    ``path``. When the block ends without an exception, the header statistics are computed
    slab by slab, the voxel size and origin set and the file moved onto ``path``
    atomically; when it raises, the temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Destination (``.mrc``, ``.rec`` or ``.map``); its folder must exist.
    shape : (int, int, int)
        ``(Z, Y, X)`` of the volume.
    voxel_size, origin : tuple of 3 floats
        Å, ``(Z, Y, X)``.

    Yields
    ------
    numpy.memmap
        float32 ``(Z, Y, X)``, zero-filled (a new file is extended with zeros).

    Raises
    ------
    InputError
        If the data written holds NaN or infinite values (nothing is written then).

    Examples
    --------
    >>> with mrc_output(  # doctest: +SKIP
    ...     "out.mrc", (4, 8, 8), voxel_size=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)
    ... ) as data:
    ...     data[:] = 1.0
    """
    with atomic_write(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "file larger than expected"
            mrc = mrcfile.new_mmap(tmp, tuple(int(n) for n in shape), mrc_mode=2, overwrite=True)
        try:
            yield mrc.data
            try:
                lo, hi, mean, std = finite_stats(mrc.data)
            except ValueError as err:
                raise InputError(
                    f"{Path(path).name}: the restoration holds NaN or infinite values; "
                    "check the input and the model (a model trained to a NaN loss restores "
                    "NaNs)."
                ) from err
            header = mrc.header
            header.dmin, header.dmax = np.float32(lo), np.float32(hi)
            header.dmean, header.rms = np.float32(mean), np.float32(std)
            z, y, x = voxel_size
            mrc.voxel_size = (x, y, z)
            oz, oy, ox = origin
            header.origin = (ox, oy, oz)
            mrc.add_label(f"tomorestore {__version__}")
            mrc.flush()
        finally:
            mrc.close()


@contextlib.contextmanager
def scratch_array(
    folder: str | os.PathLike[str], shape: tuple[int, ...], dtype: str = "float32"
) -> Iterator[np.memmap]:
    """A zero-filled array backed by a hidden temporary file in ``folder``.

    The file is anonymous where the system allows it (removed as soon as it is created,
    so nothing is left behind even if the process is killed) and always closed and
    removed when the block ends. Put it on the disk of the output (``/tmp`` may be a RAM
    disk).

    Parameters
    ----------
    folder : str or os.PathLike
        Where the file goes (an existing folder).
    shape : tuple of int
        Array shape.
    dtype : str
        NumPy dtype.

    Yields
    ------
    numpy.memmap
        Writable, zero-filled.
    """
    with tempfile.TemporaryFile(dir=folder, prefix=".tomorestore-scratch-") as handle:
        array = np.memmap(handle, dtype=np.dtype(dtype), mode="w+", shape=tuple(shape))
        try:
            yield array
        finally:
            del array

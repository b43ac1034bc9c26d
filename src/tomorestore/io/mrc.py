"""MRC/CCP4 reading and writing (``.mrc .rec .st .map .ali``) through :mod:`mrcfile`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mrcfile
import mrcfile.utils
import numpy as np

from .._version import __version__
from ..errors import InputError
from .atomic import atomic_write
from .volume import Triple, Volume

MRC_READ_SUFFIXES = (".mrc", ".rec", ".st", ".map", ".ali")
MRC_WRITE_SUFFIXES = (".mrc", ".rec", ".map")
SUPPORTED_MODES = {0: "int8", 1: "int16", 2: "float32", 6: "uint16", 12: "float16"}
_COMPLEX_MODES = (3, 4)
_HEADER_BYTES = 1024


class VoxelSizeWarning(UserWarning):
    """A file had no usable voxel size; 1 Å was assumed for some axes."""


def fix_voxel_size(sizes: list[float], *, source: str, what: str) -> Triple:
    """Replace zero, negative or non-finite voxel sizes by 1 Å, warning once.

    Parameters
    ----------
    sizes : list of 3 floats
        Voxel size in Å, ``(Z, Y, X)``.
    source : str
        The file, for the warning.
    what : str
        Why the size is missing, for the warning.
    """
    bad = [axis for axis, s in zip("ZYX", sizes, strict=True) if not np.isfinite(s) or s <= 0]
    if bad:
        warnings.warn(
            f"{source}: {what} on axis {', '.join(bad)}; assuming 1 Å per voxel there. "
            "Give the real voxel size (voxel_size=... in Python, --voxel-size on the command "
            "line, or the layer scale in napari) so outputs keep it.",
            VoxelSizeWarning,
            stacklevel=3,
        )
    fixed = [1.0 if axis in bad else float(s) for axis, s in zip("ZYX", sizes, strict=True)]
    return (fixed[0], fixed[1], fixed[2])


def _decode(raw: Any) -> str:
    return bytes(raw).rstrip(b"\0 ").decode("ascii", errors="replace").strip()


def _header_dict(header: Any) -> dict[str, Any]:
    nlabl = int(header.nlabl)
    return {
        "format": "mrc",
        "mode": int(header.mode),
        "nlabl": nlabl,
        "labels": [_decode(header.label[i]) for i in range(min(max(nlabl, 0), 10))],
        "exttyp": _decode(header.exttyp),
        "nsymbt": int(header.nsymbt),
        "ispg": int(header.ispg),
        "nversion": int(header.nversion),
        "dmin": float(header.dmin),
        "dmax": float(header.dmax),
        "dmean": float(header.dmean),
        "rms": float(header.rms),
        "map_axes": (int(header.mapc), int(header.mapr), int(header.maps)),
        "start": (int(header.nzstart), int(header.nystart), int(header.nxstart)),
        "cell_angles": tuple(float(a) for a in header.cellb.tolist()),
    }


def _read_header(path: Path) -> Any:
    # Permissive: files from some packages lack the map ID or have an odd machine stamp.
    # Our own checks below catch what actually matters (mode, size, shape).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with mrcfile.open(path, mode="r", permissive=True, header_only=True) as mrc:
                return mrc.header.copy()
    except (ValueError, OSError) as err:
        raise InputError(
            f"{path}: cannot read an MRC header ({err}). The file is not an MRC file or "
            "is damaged; check the file or re-export it."
        ) from err


def _check_header(path: Path, header: Any) -> tuple[np.dtype, tuple[int, ...]]:
    mode = int(header.mode)
    if mode in _COMPLEX_MODES:
        raise InputError(
            f"{path}: MRC mode {mode} holds complex (Fourier-space) data, not a tomogram. "
            "Give the real-space reconstruction."
        )
    if mode not in SUPPORTED_MODES:
        modes = ", ".join(f"{m} ({t})" for m, t in SUPPORTED_MODES.items())
        raise InputError(
            f"{path}: unsupported MRC mode {mode} (or not an MRC file / a damaged header). "
            f"Supported modes: {modes}. Convert the file, e.g. with IMOD newstack -mode 2."
        )
    dims = (int(header.nz), int(header.ny), int(header.nx))
    if min(dims) <= 0:
        raise InputError(
            f"{path}: the header gives a shape of {dims} voxels (Z, Y, X): not an MRC file "
            "or a damaged header."
        )
    dtype = mrcfile.utils.data_dtype_from_header(header)
    shape = mrcfile.utils.data_shape_from_header(header)
    if len(shape) != 3 or shape[0] == 1:
        raise InputError(
            f"{path}: expected a 3D volume (Z, Y, X), got shape {tuple(shape)}. "
            "A single image or a stack of volumes cannot be restored: give one tomogram."
        )
    expected = _HEADER_BYTES + int(header.nsymbt) + int(np.prod(shape)) * dtype.itemsize
    actual = path.stat().st_size
    if actual < expected:
        raise InputError(
            f"{path}: the file is truncated: it has {actual} bytes but its header (shape "
            f"{tuple(shape)}, mode {mode}) needs {expected}. It was probably cut short while "
            "being written or copied; copy or export it again."
        )
    if actual > expected:
        warnings.warn(
            f"{path}: {actual - expected} bytes after the data block are ignored.",
            UserWarning,
            stacklevel=3,
        )
    return dtype, tuple(shape)


def _to_zyx(data: np.ndarray, header: Any) -> np.ndarray:
    """Reorder file axes (sections, rows, columns) to (Z, Y, X) using MAPC/MAPR/MAPS."""
    labels = (int(header.maps), int(header.mapr), int(header.mapc))
    if sorted(labels) != [1, 2, 3] or labels == (3, 2, 1):
        return data  # standard order, or a header that does not say (treat as standard)
    order = [labels.index(axis) for axis in (3, 2, 1)]
    return data.transpose(order)


def read_mrc(path: Path, *, mmap: bool = True) -> Volume:
    """Read an MRC-family file as a :class:`Volume` (see :func:`tomorestore.io.read_volume`)."""
    header = _read_header(path)
    _check_header(path, header)
    opener = mrcfile.mmap if mmap else mrcfile.open
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with opener(path, mode="r", permissive=True) as mrc:
            data = mrc.data
    if data is None:  # pragma: no cover - _check_header rules out what mrcfile rejects
        raise InputError(f"{path}: mrcfile could not read the data block; re-export the file.")
    data = _to_zyx(data, header)
    cell = header.cella
    sampling = (int(header.mz), int(header.my), int(header.mx))
    lengths = (float(cell.z), float(cell.y), float(cell.x))
    sizes = [c / m if m > 0 else 0.0 for c, m in zip(lengths, sampling, strict=True)]
    voxel_size = fix_voxel_size(sizes, source=str(path), what="the MRC header has no voxel size")
    origin = (float(header.origin.z), float(header.origin.y), float(header.origin.x))
    return Volume(data=data, voxel_size=voxel_size, origin=origin, header=_header_dict(header))


def write_mrc(path: Path, data: np.ndarray, *, voxel_size: Triple, origin: Triple) -> Path:
    """Write a float32 ``(Z, Y, X)`` array as an MRC file (mode 2), atomically.

    ``voxel_size`` and ``origin`` are in Å, ``(Z, Y, X)``; the header statistics are
    computed from the data. The file appears complete or not at all.
    """
    with atomic_write(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
            z, y, x = voxel_size
            mrc.voxel_size = (x, y, z)
            oz, oy, ox = origin
            mrc.header.origin = (ox, oy, oz)
            mrc.add_label(f"tomorestore {__version__}")
    return path

"""TIFF reading (``.tif .tiff``) through :mod:`tifffile`, with ImageJ voxel sizes in Å."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import InputError
from .mrc import fix_voxel_size
from .volume import Volume

TIFF_SUFFIXES = (".tif", ".tiff")

# Length units as ImageJ and others write them -> Å.
_UNIT_TO_ANGSTROM = {
    "angstrom": 1.0,
    "angstroms": 1.0,
    "å": 1.0,
    "a": 1.0,
    "nm": 10.0,
    "nanometer": 10.0,
    "nanometre": 10.0,
    "nanometers": 10.0,
    "micron": 1e4,
    "microns": 1e4,
    "µm": 1e4,
    "μm": 1e4,  # Greek mu
    "um": 1e4,
    "\\u00b5m": 1e4,  # ImageJ escapes µ in its metadata
    "micrometer": 1e4,
    "micrometre": 1e4,
    "mm": 1e7,
    "millimeter": 1e7,
    "cm": 1e8,
    "m": 1e10,
}
# TIFF ResolutionUnit tag: 2 inch, 3 centimetre (1 = none).
_RESOLUTION_UNIT_TO_ANGSTROM = {2: 2.54e8, 3: 1e8}


def _unit_scale(unit: Any) -> float | None:
    if unit is None:
        return None
    return _UNIT_TO_ANGSTROM.get(str(unit).strip().lower())


def _pixel_size(page: tifffile.TiffPage, tag: str) -> float | None:
    """Pixel size in the file's unit from an X/YResolution tag (pixels per unit)."""
    resolution = page.tags.get(tag)
    if resolution is None:
        return None
    numerator, denominator = resolution.value
    if numerator <= 0 or denominator <= 0:
        return None
    return denominator / numerator


def _voxel_size(path: Path, tif: tifffile.TiffFile) -> tuple[float, float, float]:
    page = tif.pages.first
    ij = tif.imagej_metadata or {}
    x_size = _pixel_size(page, "XResolution")
    y_size = _pixel_size(page, "YResolution")
    z_size = ij.get("spacing")
    unit = ij.get("unit")
    if unit is not None:
        to_angstrom = _unit_scale(unit)
        y_scale = _unit_scale(ij.get("yunit", unit))
        z_scale = _unit_scale(ij.get("zunit", unit))
        reason = f"the TIFF unit is {unit!r}, not a length"
    else:
        code = int(getattr(page.tags.get("ResolutionUnit"), "value", 1))
        to_angstrom = y_scale = z_scale = _RESOLUTION_UNIT_TO_ANGSTROM.get(code)
        reason = "the TIFF has no physical pixel size"
    sizes = [
        z_size * z_scale if z_size is not None and z_scale else 0.0,
        y_size * y_scale if y_size is not None and y_scale else 0.0,
        x_size * to_angstrom if x_size is not None and to_angstrom else 0.0,
    ]
    return fix_voxel_size(sizes, source=str(path), what=reason)


def _check_shape(path: Path, shape: tuple[int, ...], axes: str) -> None:
    squeezed = tuple(n for n in shape if n != 1)
    if len(squeezed) != 3 or "S" in axes:
        raise InputError(
            f"{path}: expected a 3D volume (Z, Y, X), got shape {shape} (axes {axes}). "
            "Save a single-channel, single-time-point z-stack."
        )


def read_tiff(path: Path, *, mmap: bool = True) -> Volume:
    """Read a 3D TIFF as a :class:`Volume` (see :func:`tomorestore.io.read_volume`)."""
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape = tuple(series.shape)
            axes = series.axes
            _check_shape(path, shape, axes)
            voxel_size = _voxel_size(path, tif)
            mappable = series.dataoffset is not None
            data = None if (mmap and mappable) else series.asarray()
            header = {
                "format": "tiff",
                "axes": axes,
                "dtype": str(series.dtype),
                "imagej": dict(tif.imagej_metadata or {}),
            }
        if data is None:
            data = tifffile.memmap(path, mode="r")
    except InputError:
        raise
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as err:
        raise InputError(
            f"{path}: cannot read the TIFF file ({err}). Check the file or re-export it."
        ) from err
    squeezed = tuple(n for n in shape if n != 1)
    data = np.asarray(data).reshape(squeezed) if data.shape != squeezed else data
    return Volume(data=data, voxel_size=voxel_size, header=header)

"""What "Show wedge" draws: the power spectrum of the tilt plane and the wedge boundary.

For tilt axis Y the missing wedge lives in the (k_z, k_x) plane and does not depend on
k_y, so every XZ slice has the same wedge in its 2D spectrum: averaging the power of a slab
of central XZ slices shows it with little noise. The boundary follows the convention of
``docs/architecture.md``: a tilt angle θ measures the direction (k_z, k_x) = (sin θ, cos θ).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SLAB = 32  # central slices averaged into the spectrum


def tilt_plane_spectrum(volume: Any, tilt_axis: str = "Y") -> np.ndarray:
    """Log power spectrum of the plane normal to the tilt axis, zero frequency centred.

    Parameters
    ----------
    volume : array-like
        (Z, Y, X) tomogram (a numpy array, memmap or dask array: only the central slab
        is read).
    tilt_axis : {"Y", "X"}
        Tilt axis: the spectrum is over (k_z, k_x) for Y and over (k_z, k_y) for X.

    Returns
    -------
    ndarray
        float32 ``log10(1 + power / median power)``, shape (Z, X) or (Z, Y), with rows
        k_z and zero frequency at index ``n // 2`` (``np.fft.fftshift``).
    """
    if tilt_axis not in ("Y", "X"):
        raise ValueError(f"tilt_axis must be 'Y' or 'X', got {tilt_axis!r}")
    axis = 1 if tilt_axis == "Y" else 2
    n = volume.shape[axis]
    start = max(0, n // 2 - SLAB // 2)
    index: list[slice] = [slice(None)] * 3
    index[axis] = slice(start, min(n, start + SLAB))
    slab = np.asarray(volume[tuple(index)], dtype=np.float32)  # reads only the slab
    slab = np.moveaxis(slab, axis, 0)  # (slices, Z, other)
    slab = slab - slab.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(slab, axes=(1, 2))) ** 2).mean(axis=0)
    power = np.fft.fftshift(power)
    scale = float(np.median(power)) or 1.0
    return np.log10(1.0 + power / scale).astype(np.float32)


def wedge_boundary_lines(
    shape: tuple[int, int], tilt_range: tuple[float, float]
) -> list[np.ndarray]:
    """The two boundary lines of the measured sector in spectrum pixel coordinates.

    Parameters
    ----------
    shape : tuple of int
        ``(n_z, n_other)`` of the spectrum from :func:`tilt_plane_spectrum`.
    tilt_range : tuple of float
        ``(tilt_min, tilt_max)`` in degrees.

    Returns
    -------
    list of ndarray
        Two (2, 2) arrays of ``(row, column)`` end points, through the zero frequency at
        the tilt angles ``tilt_min`` and ``tilt_max``, each reaching the spectrum border.
    """
    n_rows, n_cols = shape
    centre = np.array([n_rows // 2, n_cols // 2], dtype=float)
    lines = []
    for angle in tilt_range:
        sin, cos = math.sin(math.radians(angle)), math.cos(math.radians(angle))
        reach = 0.5 / max(abs(sin), abs(cos))  # cycles/voxel to the border of k-space
        direction = np.array([sin * n_rows, cos * n_cols]) * reach
        lines.append(np.stack([centre - direction, centre + direction]))
    return lines

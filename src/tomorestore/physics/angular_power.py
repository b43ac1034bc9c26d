"""The angular power profile of a tomogram in the plane normal to its tilt axis.

With tilt axis Y the missing wedge lies in the (k_z, k_x) plane and does not depend on k_y;
this module measures how the power is spread over the direction ``φ = atan2(k_z, k_x)``
(folded into (−90°, 90°]), which :mod:`~tomorestore.physics.wedge_estimate` fits:

1. up to ``max_slices`` planes normal to the tilt axis are read, spread evenly along it
   (only those are read from a memory-mapped file), each cropped to ``max_size`` voxels
   per axis around its centre;
2. their 2D power spectra (mean removed, Hann window, zero-padded to a square power of
   two) are averaged per group of interleaved planes — by Parseval along the tilt axis,
   their mean is the 3D power averaged over k_y;
3. the frequencies with ``band[0] < |k| < band[1]`` cycles/voxel are kept (the lowest hold
   the lamella's Z profile on k_x = 0, the highest the comb of discrete tilts), and the
   band is cut where the power of a ring of |k| first falls below :data:`DYNAMIC_RANGE`
   of its peak (a low-pass filtered tomogram holds only filter artefacts there);
4. each ring is divided by its mean power (whitening) and the power is averaged in bins of
   φ: one profile per group, plus the number of frequencies per bin.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["DYNAMIC_RANGE", "MIN_SIZE", "AngularPower", "angular_power"]

#: Rings of |k| whose power is below this fraction of the band's peak are left out.
DYNAMIC_RANGE = 1e-3
#: Smallest size (voxels) per axis of a volume whose profile is measured.
MIN_SIZE = 16
_RING_WIDTH = 0.02  # cycles/voxel per whitening ring
_MIN_RINGS = 2  # the band keeps at least this many rings
_CHUNK = 8  # planes per FFT batch


@dataclass(frozen=True)
class AngularPower:
    """Whitened power per bin of φ, per group of planes.

    Attributes
    ----------
    profiles : numpy.ndarray
        ``(groups, n_bins)`` mean whitened power per bin (0 where a bin is empty).
    counts : numpy.ndarray
        ``(n_bins,)`` number of frequencies per bin (the weights of a fit).
    angles : numpy.ndarray
        ``(n_bins,)`` bin centres in degrees, from −90 to 90.
    band : tuple of float
        The band of |k| (cycles/voxel) used, after the cut of weak rings.
    n_slices : int
        Number of planes read.
    tilt_axis : {"Y", "X"}
    """

    profiles: np.ndarray
    counts: np.ndarray
    angles: np.ndarray
    band: tuple[float, float]
    n_slices: int
    tilt_axis: str

    @property
    def profile(self) -> np.ndarray:
        """The mean profile over all groups."""
        return self.profiles.mean(axis=0)


def _tilt_axis_second(volume: Any, tilt_axis: str) -> tuple[Any, str]:
    """Validate; return the volume seen with the tilt axis second (a view, nothing read)."""
    axis = str(tilt_axis).upper()
    if axis not in ("Y", "X"):
        raise InputError(f"tilt_axis must be 'Y' or 'X', got {tilt_axis!r}.")
    shape = getattr(volume, "shape", None)
    if shape is None or not hasattr(volume, "__getitem__"):
        volume = np.asarray(volume)
        shape = volume.shape
    if len(shape) != 3:
        raise InputError(
            f"The tilt range is estimated from a 3D (Z, Y, X) tomogram, got shape {tuple(shape)}."
        )
    if min(shape) < MIN_SIZE:
        raise InputError(
            f"The tomogram of shape {tuple(shape)} is too small to estimate its tilt range: "
            f"each axis needs at least {MIN_SIZE} voxels. Give the tilt range instead."
        )
    if np.issubdtype(np.dtype(getattr(volume, "dtype", np.float32)), np.complexfloating):
        raise InputError("The tomogram is complex; give a real-valued volume.")
    if axis == "X":  # a view for numpy arrays, memory maps and dask arrays
        volume = (volume if hasattr(volume, "transpose") else np.asarray(volume)).transpose(0, 2, 1)
    return volume, axis


def _planes(volume: Any, max_slices: int, max_size: int) -> Iterator[np.ndarray]:
    """Chunks ``(n, Z', W')`` float32 of planes normal to axis 1, evenly spread along it."""
    n_z, n_t, n_w = volume.shape
    index = np.unique(np.linspace(0, n_t - 1, min(n_t, max_slices)).round().astype(int))
    z0, w0 = max(0, (n_z - max_size) // 2), max(0, (n_w - max_size) // 2)
    zs, ws = slice(z0, z0 + min(n_z, max_size)), slice(w0, w0 + min(n_w, max_size))
    for start in range(0, index.size, _CHUNK):
        chunk = [
            np.asarray(volume[zs, int(i), ws], dtype=np.float32) for i in index[start:][:_CHUNK]
        ]
        yield np.stack(chunk)


def _group_spectra(
    volume: Any, groups: int, max_slices: int, max_size: int
) -> tuple[np.ndarray, int]:
    """Mean 2D power per group of interleaved planes, ``(groups, P, P // 2 + 1)``."""
    n_z, _, n_w = volume.shape
    size_z, size_w = min(n_z, max_size), min(n_w, max_size)
    pad = 1 << max(6, math.ceil(math.log2(max(size_z, size_w))))
    window = (np.hanning(size_z)[:, None] * np.hanning(size_w)[None, :]).astype(np.float32)
    sums = np.zeros((groups, pad, pad // 2 + 1), dtype=np.float64)
    count = 0
    for chunk in _planes(volume, max_slices, max_size):
        if not np.all(np.isfinite(chunk)):
            raise InputError(
                "The tomogram contains NaN or infinite values; fix or crop it before "
                "estimating its tilt range."
            )
        chunk = (chunk - chunk.mean(axis=(1, 2), keepdims=True)) * window
        power = np.abs(np.fft.rfft2(chunk, s=(pad, pad))) ** 2
        for k in range(power.shape[0]):
            sums[(count + k) % groups] += power[k]
        count += power.shape[0]
    per_group = np.bincount(np.arange(count) % groups, minlength=groups)
    return sums / per_group[:, None, None], count


def _angular_profiles(
    spectra: np.ndarray, band: tuple[float, float], bin_width: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Whitened power per φ bin for each group, frequencies per bin, and the band's top.

    The band is cut where the ring power first falls below :data:`DYNAMIC_RANGE` times
    its peak in the band: in a low-pass filtered tomogram those frequencies hold only
    filter artefacts and round-off.
    """
    pad = spectra.shape[1]
    k_z = np.fft.fftfreq(pad)[:, None]
    k_w = np.fft.rfftfreq(pad)[None, :]
    radius = np.hypot(k_z, k_w)
    phi = np.degrees(np.arctan2(k_z, k_w))
    phi = np.where(phi <= -90.0, phi + 180.0, phi)  # fold into (-90, 90]
    keep = (radius > band[0]) & (radius < band[1])
    rings = ((radius - band[0]) / _RING_WIDTH).astype(int)
    total = spectra.mean(axis=0)
    ring_mean = np.bincount(rings[keep], weights=total[keep]) / np.maximum(
        np.bincount(rings[keep]), 1
    )
    if not ring_mean.max() > 0:
        raise InputError(
            "The tomogram has no power in the frequency band used to see the missing wedge "
            "(is it constant?). Give the tilt range instead."
        )
    weak = np.flatnonzero(ring_mean < DYNAMIC_RANGE * ring_mean.max())
    n_rings = max(int(weak[0]) if weak.size else ring_mean.size, _MIN_RINGS)
    keep &= rings < n_rings
    top = min(band[1], band[0] + n_rings * _RING_WIDTH)
    n_bins = round(180.0 / bin_width)
    bins = np.clip(((phi[keep] + 90.0) / bin_width).astype(int), 0, n_bins - 1)
    scale = np.maximum(ring_mean[rings[keep]], np.finfo(float).tiny)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    profiles = np.stack(
        [np.bincount(bins, weights=group[keep] / scale, minlength=n_bins) for group in spectra]
    ) / np.maximum(counts, 1.0)
    return profiles, counts, top


def angular_power(
    volume: Any,
    *,
    tilt_axis: str = "Y",
    band: tuple[float, float] = (0.06, 0.33),
    bin_width: float = 0.5,
    max_slices: int = 64,
    max_size: int = 512,
    groups: int = 4,
) -> AngularPower:
    """Measure the angular power profile of a tomogram (see the module's description).

    Parameters
    ----------
    volume : array-like
        ``(Z, Y, X)`` tomogram (numpy array, memory map or dask array).
    tilt_axis : {"Y", "X"}
        With "X" the profile is over ``atan2(k_z, k_y)``.
    band : tuple of float
        Range of |k| in cycles/voxel, ``0 < low < high <= 0.5``.
    bin_width : float
        Bin width in degrees; 180 must be a multiple of it, at most 5.
    max_slices, max_size : int
        At most this many planes, each cropped to at most this size per axis.
    groups : int
        Number of interleaved groups of planes (at least 2, at most ``max_slices``).

    Returns
    -------
    AngularPower

    Raises
    ------
    InputError
        For a volume that is not 3D and real, smaller than :data:`MIN_SIZE` on an axis,
        holds NaN/inf or has no power in ``band``; or for bad parameters.
    """
    low, high = (float(b) for b in band)
    if not 0.0 < low < high <= 0.5:
        raise InputError(f"band must satisfy 0 < low < high <= 0.5 cycles/voxel, got {band}.")
    n_bins = 180.0 / float(bin_width)
    if not (bin_width > 0 and abs(n_bins - round(n_bins)) < 1e-9 and n_bins >= 36):
        raise InputError(f"bin_width must divide 180 degrees and be at most 5, got {bin_width}.")
    if int(groups) < 2 or int(max_slices) < int(groups) or int(max_size) < MIN_SIZE:
        raise InputError(
            f"Need groups >= 2, max_slices >= groups and max_size >= {MIN_SIZE}; got "
            f"groups={groups}, max_slices={max_slices}, max_size={max_size}."
        )
    view, axis = _tilt_axis_second(volume, tilt_axis)
    spectra, n_slices = _group_spectra(view, int(groups), int(max_slices), int(max_size))
    profiles, counts, top = _angular_profiles(spectra, (low, high), float(bin_width))
    angles = -90.0 + (np.arange(counts.size) + 0.5) * float(bin_width)
    return AngularPower(profiles, counts, angles, (low, float(top)), int(n_slices), axis)

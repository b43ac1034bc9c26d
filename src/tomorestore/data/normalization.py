"""Robust intensity standardisation of tomograms.

Every tomogram is standardised before training (``(x - mean) / std``) with statistics that
ignore outliers (gold beads, hot pixels, carbon edges): the volume is subsampled on a
regular stride, clipped to its 0.5–99.5 percentiles, and the mean and standard deviation
of the clipped values are taken. The statistics live in the trained model and are undone
on output, so restored tomograms come back in the input's units. Tiny intensities
(AreTomo3 writes std ≈ 1e-3) and integer volumes (uint8, int16) work the same way because
the statistics are computed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InputError

ArrayT = TypeVar("ArrayT")

#: Upper bound on the number of voxels the statistics are computed from.
SUBSAMPLE_VOXELS = 2_000_000
#: Percentiles the subsample is clipped to before the mean and std are taken.
CLIP_PERCENTILES = (0.5, 99.5)


def strided_subsample(array: np.ndarray, max_voxels: int = SUBSAMPLE_VOXELS) -> np.ndarray:
    """Return a regular strided subsample of ``array`` as float64 (at most ~``max_voxels``).

    The same stride is used on every axis, so a memory-mapped volume is read sparsely.
    """
    stride = max(1, math.ceil((array.size / max_voxels) ** (1.0 / array.ndim)))
    view = array[(slice(None, None, stride),) * array.ndim]
    return np.asarray(view, dtype=np.float64).reshape(-1)


def _exact_min_max(array: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum of a (possibly memory-mapped) array, read slab by slab."""
    lo, hi = math.inf, -math.inf
    step = max(1, SUBSAMPLE_VOXELS // max(1, int(np.prod(array.shape[1:]))))
    for start in range(0, array.shape[0], step):
        chunk = np.asarray(array[start : start + step])
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    return lo, hi


def _robust_stats(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, CLIP_PERCENTILES)
    clipped = np.clip(values, lo, hi)
    mean, std = float(clipped.mean()), float(clipped.std())
    if std <= 0.0 or not math.isfinite(std):
        # Mostly-constant volumes (e.g. a uint8 mask-like volume): the clipping removed all
        # variation, fall back to the plain statistics of the subsample.
        mean, std = float(values.mean()), float(values.std())
    return mean, std


class Normalization(BaseModel):
    """Standardisation ``(x - mean) / std`` with statistics in the input's units.

    Parameters
    ----------
    mean : float
        Robust mean of the tomogram.
    std : float
        Robust standard deviation of the tomogram (strictly positive).

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.random.default_rng(0).normal(5.0, 1e-3, (16, 16, 16)).astype(np.float32)
    >>> norm = Normalization.from_volume(vol)
    >>> z = norm.apply(vol)
    >>> bool(abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1.0) < 0.1)
    True
    >>> bool(np.allclose(norm.invert(z), vol, atol=1e-6))
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: float = Field(description="Robust mean of the tomogram, in input units.")
    std: float = Field(gt=0.0, description="Robust standard deviation, in input units (> 0).")

    @classmethod
    def from_volume(cls, array: Any) -> Normalization:
        """Robust statistics of one volume (see :meth:`from_volumes`)."""
        return cls.from_volumes([array])

    @classmethod
    def from_volumes(cls, arrays: Sequence[Any]) -> Normalization:
        """Robust statistics shared by several volumes (e.g. even and odd halves).

        Parameters
        ----------
        arrays : sequence of array-like
            One or more volumes (NumPy arrays or memory maps, any numeric dtype).

        Returns
        -------
        Normalization

        Raises
        ------
        InputError
            If the volumes are constant (no intensity variation to standardise).
        """
        arrays = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in arrays]
        if not arrays:
            raise InputError("no volume given to compute intensity statistics from.")
        budget = max(1, SUBSAMPLE_VOXELS // len(arrays))
        values = np.concatenate([strided_subsample(a, budget) for a in arrays])
        mean, std = _robust_stats(values)
        if not (std > 0.0 and math.isfinite(std)):
            # The subsample missed the variation (e.g. a single bright voxel): look at all.
            ranges = [_exact_min_max(a) for a in arrays]
            lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
            if hi <= lo:
                raise InputError(
                    f"the tomogram is constant (every voxel is {lo:g}): there is nothing to "
                    "restore. Check that the right file or layer was chosen."
                )
            values = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays])
            mean, std = float(values.mean()), float(values.std())
        return cls(mean=mean, std=std)

    def apply(self, x: ArrayT) -> ArrayT:
        """Standardise ``x`` (NumPy array → float32 array; torch tensor → tensor)."""
        if isinstance(x, np.ndarray) and x.ndim >= 1:
            # Slab by slab in float64: exact for tiny intensities, no 8-byte full copy.
            out = np.empty(x.shape, dtype=np.float32)
            step = max(1, SUBSAMPLE_VOXELS // max(1, int(np.prod(x.shape[1:]))))
            for start in range(0, x.shape[0], step):
                chunk = np.asarray(x[start : start + step], dtype=np.float64)
                out[start : start + step] = (chunk - self.mean) / self.std
            return out  # type: ignore[return-value]
        if isinstance(x, np.ndarray) or np.isscalar(x):
            return np.float32((float(x) - self.mean) / self.std)  # type: ignore[return-value]
        return (x - self.mean) / self.std  # type: ignore[operator,return-value]

    def invert(self, x: ArrayT) -> ArrayT:
        """Undo :meth:`apply`: back to the input's units (float32 for NumPy input)."""
        if isinstance(x, np.ndarray) or np.isscalar(x):
            out = np.asarray(x, dtype=np.float64) * self.std + self.mean
            return out.astype(np.float32)  # type: ignore[return-value]
        return x * self.std + self.mean  # type: ignore[operator,return-value]

    def apply_inplace(self, x: np.ndarray) -> np.ndarray:
        """Standardise a float32 array (or memory map) in place, slab by slab."""
        step = max(1, SUBSAMPLE_VOXELS // max(1, int(np.prod(x.shape[1:]))))
        for start in range(0, x.shape[0], step):
            chunk = x[start : start + step]
            chunk -= np.float32(self.mean)
            chunk /= np.float32(self.std)
        return x

    def invert_inplace(self, x: np.ndarray) -> np.ndarray:
        """Undo :meth:`apply` on a float32 array in place (no full-size temporary copy)."""
        x *= np.float32(self.std)
        x += np.float32(self.mean)
        return x

"""Walk a large (possibly memory-mapped) volume in slabs along its first axis.

Whole-volume operations on a restored tomogram (zeroing, combining the halves, undoing
the normalisation, header statistics) go slab by slab so that no full-size temporary is
ever allocated: a memory-mapped output stays on disk except for one slab at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

#: Voxels per slab (16 MB of float32).
SLAB_VOXELS = 1 << 22


def slab_slices(shape: tuple[int, ...], max_voxels: int | None = None) -> Iterator[slice]:
    """Slices along axis 0 that cover ``shape`` with at most ``max_voxels`` per slab.

    A slab is never thinner than one plane, however large the plane. ``max_voxels``
    defaults to :data:`SLAB_VOXELS`.

    Examples
    --------
    >>> [(s.start, s.stop) for s in slab_slices((5, 2, 2), max_voxels=8)]
    [(0, 2), (2, 4), (4, 5)]
    """
    plane = max(1, int(np.prod(shape[1:])))
    step = max(1, int(SLAB_VOXELS if max_voxels is None else max_voxels) // plane)
    for start in range(0, int(shape[0]), step):
        yield slice(start, min(start + step, int(shape[0])))


def fill_in_slabs(array: Any, value: float) -> None:
    """Set every element of ``array`` (an ndarray, memmap or view of one) to ``value``."""
    for index in slab_slices(tuple(array.shape)):
        array[index] = value


def finite_stats(array: Any) -> tuple[float, float, float, float]:
    """Minimum, maximum, mean and standard deviation of ``array``, read slab by slab.

    Per-slab statistics are merged in float64 with Chan's pairwise update, so the result
    is accurate even for tiny deviations on a large offset.

    Returns
    -------
    minimum, maximum, mean, std : float

    Raises
    ------
    ValueError
        If ``array`` is empty or holds NaN or infinite values.
    """
    if array.size == 0:
        raise ValueError("no voxels to take statistics of")
    lo, hi = np.inf, -np.inf
    count, mean, m2 = 0, 0.0, 0.0
    for index in slab_slices(tuple(array.shape)):
        chunk = np.asarray(array[index], dtype=np.float64)
        if not np.isfinite(chunk).all():
            raise ValueError("the volume holds NaN or infinite values")
        lo = min(lo, float(chunk.min()))
        hi = max(hi, float(chunk.max()))
        n = chunk.size
        chunk_mean = float(chunk.mean())
        chunk_m2 = float(np.square(chunk - chunk_mean).sum())
        delta = chunk_mean - mean
        total = count + n
        mean += delta * n / total
        m2 += chunk_m2 + delta * delta * count * n / total
        count = total
    return lo, hi, mean, float(np.sqrt(m2 / count))

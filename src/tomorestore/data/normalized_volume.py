"""A volume standardised on the fly: what training reads crops from, without a full copy.

A data set of many full-size tomograms does not fit in memory as normalised float32
copies. :class:`NormalizedVolume` wraps the (memory-mapped) input and standardises only
the part that is read, so sub-tomogram sampling, the training preview and tiled
prediction touch the file piece by piece.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .normalization import Normalization


class NormalizedVolume:
    """Read-only ``(Z, Y, X)`` array-like: ``data[key]`` standardised with ``normalization``.

    Parameters
    ----------
    data : array-like
        The volume in input units (a NumPy array, a memory map or a view of one).
    normalization : Normalization
        Applied to every read (float64 arithmetic, float32 result, as
        :meth:`Normalization.apply` on the whole volume).

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    >>> view = NormalizedVolume(raw, Normalization(mean=4.0, std=2.0))
    >>> view.shape, view.dtype
    ((2, 2, 2), dtype('float32'))
    >>> view[0, 0]
    array([-2. , -1.5], dtype=float32)
    """

    def __init__(self, data: Any, normalization: Normalization) -> None:
        self.data = data
        self.normalization = normalization

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the volume."""
        return tuple(int(n) for n in self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of axes (3)."""
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        """float32: what reads return."""
        return np.dtype(np.float32)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.normalization.apply(np.asarray(self.data[key])), dtype=np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.normalization.apply(np.asarray(self.data))
        return values if dtype is None else values.astype(dtype, copy=False)

    def __len__(self) -> int:
        return self.shape[0]

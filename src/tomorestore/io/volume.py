"""The :class:`Volume` container: a 3D array with its voxel size, origin and header."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

Triple = tuple[float, float, float]


def as_triple(value: Any, *, name: str, positive: bool) -> Triple:
    """Turn a scalar or a 3-sequence into a ``(Z, Y, X)`` tuple of floats.

    Parameters
    ----------
    value : float or sequence of 3 floats
        A scalar is repeated on all three axes.
    name : str
        What the value is (used in error messages), e.g. ``"voxel_size"``.
    positive : bool
        Require every entry to be strictly positive (voxel sizes).

    Returns
    -------
    tuple of 3 floats
        In ``(Z, Y, X)`` order.

    Raises
    ------
    InputError
        If the value has the wrong length, is not finite, or not positive when required.
    """
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"{name} must be a number or 3 numbers (Z, Y, X) in Å, got {value!r}."
        ) from err
    if array.size == 1:
        array = np.repeat(array, 3)
    if array.size != 3:
        raise InputError(
            f"{name} must be a number or 3 numbers (Z, Y, X) in Å, got {array.size} "
            f"numbers: {value!r}."
        )
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} must be finite, got {tuple(array.tolist())}.")
    if positive and np.any(array <= 0):
        raise InputError(
            f"{name} must be positive (Å per voxel, Z, Y, X), got {tuple(array.tolist())}."
        )
    return (float(array[0]), float(array[1]), float(array[2]))


@dataclass(frozen=True)
class Volume:
    """A tomogram: a 3D ``(Z, Y, X)`` array with its physical geometry.

    Parameters
    ----------
    data : numpy.ndarray
        The voxels, ``(Z, Y, X)``. May be a read-only memory map of the file.
    voxel_size : tuple of 3 floats
        Voxel size in Å, ``(Z, Y, X)`` order.
    origin : tuple of 3 floats
        Origin in Å, ``(Z, Y, X)`` order.
    header : dict
        File header fields worth keeping (MRC mode, labels, statistics, ...).
    """

    data: np.ndarray
    voxel_size: Triple = (1.0, 1.0, 1.0)
    origin: Triple = (0.0, 0.0, 0.0)
    header: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "voxel_size", as_triple(self.voxel_size, name="voxel_size", positive=True)
        )
        object.__setattr__(self, "origin", as_triple(self.origin, name="origin", positive=False))

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`, ``(Z, Y, X)``."""
        return tuple(self.data.shape)

    def with_data(self, data: np.ndarray) -> Volume:
        """Return a copy of this volume holding ``data`` with the same geometry."""
        return dataclasses.replace(self, data=data)

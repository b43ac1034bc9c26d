"""Live preview during training: restore a small central region and show its middle slice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.normalization import Normalization
from .restoration_model import restore_halves

#: In-plane (Y, X) edge of the preview region, voxels.
PREVIEW_EDGE = 96


def central_region(shape: Sequence[int], *, depth: int, edge: int = PREVIEW_EDGE) -> tuple:
    """Slices of a ``(depth, edge, edge)`` box (clipped to ``shape``) about the centre."""
    sizes = (min(shape[0], depth), min(shape[1], edge), min(shape[2], edge))
    return tuple(slice((n - s) // 2, (n - s) // 2 + s) for n, s in zip(shape, sizes, strict=True))


def preview_slice(
    network: Any,
    method: Any,
    halves: Sequence[np.ndarray],
    *,
    device: Any,
    fast: bool,
    normalization: Normalization,
    depth: int,
) -> np.ndarray:
    """The restored central XY slice of the central region, in input units.

    The region is restored as one tile through the same path as whole tomograms
    (:func:`~tomorestore.training.restoration_model.restore_halves`).

    Parameters
    ----------
    network : torch.nn.Module
        The network being trained (its training mode is restored afterwards).
    method : Method
        Transforms each input tile and combines the restored halves.
    halves : sequence of numpy.ndarray
        Normalised ``(Z, Y, X)`` halves in the methods' frame.
    device : torch.device or str
        Where the network runs.
    fast : bool
        bf16 autocast and channels_last_3d, as in training.
    normalization : Normalization
        Undone on the result.
    depth : int
        Z extent of the region (the training patch size).

    Returns
    -------
    numpy.ndarray
        2D float32 ``(Y, X)`` slice.
    """
    region = central_region(halves[0].shape, depth=depth)
    crops = [np.ascontiguousarray(half[region], dtype=np.float32) for half in halves]
    restored = restore_halves(
        network,
        method,
        crops,
        device=device,
        fast=fast,
        tile=crops[0].shape,
        overlap=0.0,
        blend="constant",
        min_size=1,
    )
    combined = np.asarray(method.combine(restored), dtype=np.float32)
    middle = combined[combined.shape[0] // 2]
    return normalization.invert(np.ascontiguousarray(middle))

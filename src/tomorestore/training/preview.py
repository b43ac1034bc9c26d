"""Live preview during training: restore a small central region and show its middle slice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.normalization import Normalization

#: In-plane (Y, X) edge of the preview region, voxels.
PREVIEW_EDGE = 96


def central_region(shape: Sequence[int], *, depth: int, edge: int = PREVIEW_EDGE) -> tuple:
    """Slices of a ``(depth, edge, edge)`` box (clipped to ``shape``) about the centre."""
    sizes = (min(shape[0], depth), min(shape[1], edge), min(shape[2], edge))
    return tuple(slice((n - s) // 2, (n - s) // 2 + s) for n, s in zip(shape, sizes, strict=True))


def preview_slice(
    predict: Any,
    halves: Sequence[np.ndarray],
    *,
    method: Any,
    normalization: Normalization,
    depth: int,
) -> np.ndarray:
    """The restored central XY slice of the central region, in input units.

    Parameters
    ----------
    predict : callable
        Maps a normalised ``(1, 1, z, y, x)`` tensor to the restored tensor (see
        :func:`~tomorestore.training.bundle.make_predictor`).
    halves : sequence of numpy.ndarray
        Normalised ``(Z, Y, X)`` halves.
    method : Method
        Combines the restored halves.
    normalization : Normalization
        Undone on the result.
    depth : int
        Z extent of the region (the training patch size).

    Returns
    -------
    numpy.ndarray
        2D float32 ``(Y, X)`` slice.
    """
    import torch

    region = central_region(halves[0].shape, depth=depth)
    restored = []
    for half in halves:
        x = torch.from_numpy(np.ascontiguousarray(half[region], dtype=np.float32))
        y = predict(x[None, None])
        restored.append(y[0, 0].detach().cpu().numpy())
    combined = np.asarray(method.combine(restored), dtype=np.float32)
    middle = combined[combined.shape[0] // 2]
    return normalization.invert(np.ascontiguousarray(middle))

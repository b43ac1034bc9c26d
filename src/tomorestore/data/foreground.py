"""Where the sample is: a mask of voxels worth training on.

Tomograms of lamellae or thin cells contain slabs of vacuum or plain ice above and below
the sample; sub-tomograms cut there teach the network nothing. :func:`foreground_mask`
finds the sample as the region of high smoothed local variance (Otsu threshold), dilated
by half a patch so that crops centred in it cover the sample's borders. A featureless
volume (pure noise, or a sample that fills the whole field) gives an all-True mask.

User masks (e.g. napari Labels) are checked by :func:`check_user_mask`: any non-zero voxel
is allowed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError

#: The local-variance map is computed on a grid with at most this many voxels.
_MAX_COARSE_VOXELS = 500_000
#: Relative contrast between the Otsu classes below which the volume counts as featureless.
_MIN_CONTRAST = 0.25


def _block_reduce_mean(volume: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Block means of ``volume`` and of its square (float64), ``factor`` voxels per block.

    Reads ``factor`` Z-planes at a time, so a memory-mapped volume is streamed once.
    """
    nz, ny, nx = (max(1, n // factor) for n in volume.shape)
    first = np.empty((nz, ny, nx), dtype=np.float64)
    second = np.empty((nz, ny, nx), dtype=np.float64)
    for i in range(nz):
        slab = np.asarray(
            volume[i * factor : (i + 1) * factor, : ny * factor, : nx * factor], dtype=np.float64
        )
        blocks = slab.reshape(factor, ny, factor, nx, factor)
        first[i] = blocks.mean(axis=(0, 2, 4))
        second[i] = (blocks * blocks).mean(axis=(0, 2, 4))
    return first, second


def foreground_mask(volume: Any, *, patch_size: int) -> np.ndarray:
    """Boolean mask of where the sample is, at the volume's full resolution.

    Parameters
    ----------
    volume : array-like
        A ``(Z, Y, X)`` tomogram (any units; a memory map is read with strides).
    patch_size : int
        Training patch edge in voxels: sets the smoothing scale and the dilation.

    Returns
    -------
    numpy.ndarray of bool
        Same shape as ``volume``; True where sub-tomograms may be centred.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    volume = volume if isinstance(volume, np.ndarray) else np.asarray(volume)
    shape = volume.shape
    factor = max(1, math.ceil((volume.size / _MAX_COARSE_VOXELS) ** (1.0 / 3.0)))
    factor = max(factor, min(4, max(1, patch_size // 8)))
    factor = min(factor, max(1, min(shape) // 4))
    mean1, mean2 = _block_reduce_mean(volume, factor)
    sigma = max(1.0, patch_size / (4.0 * factor))
    local_mean = ndimage.gaussian_filter(mean1, sigma, mode="reflect")
    local_var = ndimage.gaussian_filter(mean2, sigma, mode="reflect") - local_mean**2
    local_var = np.maximum(local_var, 0.0)
    if float(local_var.max()) <= float(local_var.min()):
        return np.ones(shape, dtype=bool)
    threshold = threshold_otsu(local_var)
    high = local_var > threshold
    low_mean = float(local_var[~high].mean()) if (~high).any() else 0.0
    high_mean = float(local_var[high].mean()) if high.any() else 0.0
    if not high.any() or high_mean - low_mean < _MIN_CONTRAST * max(low_mean, 1e-30):
        return np.ones(shape, dtype=bool)
    radius = max(1, round(patch_size / (2.0 * factor)))
    coarse = ndimage.binary_dilation(high, structure=_ball(radius))
    return _upsample_nearest(coarse, shape, factor)


def _ball(radius: int) -> np.ndarray:
    grid = np.mgrid[-radius : radius + 1, -radius : radius + 1, -radius : radius + 1]
    return (grid**2).sum(axis=0) <= radius * radius


def _upsample_nearest(coarse: np.ndarray, shape: tuple[int, ...], factor: int) -> np.ndarray:
    index = [
        np.minimum(np.arange(n) // factor, c - 1) for n, c in zip(shape, coarse.shape, strict=True)
    ]
    return coarse[np.ix_(*index)]


def check_user_mask(mask: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Validate a user mask: same shape as the tomogram, any non-zero voxel is allowed.

    Parameters
    ----------
    mask : array-like
        E.g. a napari Labels layer's data.
    shape : tuple of int
        The tomogram's shape ``(Z, Y, X)``.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    InputError
        If the shapes differ or the mask is empty.
    """
    array = np.asarray(mask)
    if array.shape != tuple(shape):
        raise InputError(
            f"mask shape {array.shape} does not match the tomogram shape {tuple(shape)}: "
            "draw the mask on the same tomogram (same size, same binning)."
        )
    allowed = array != 0
    if not allowed.any():
        raise InputError(
            "the mask is empty (all zero): paint the region to train on with non-zero "
            "labels, or give no mask to let tomorestore find the sample."
        )
    return allowed

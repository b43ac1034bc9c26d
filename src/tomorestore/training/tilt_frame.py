"""The methods' frame: the tilt axis along Y.

Every method works with the tilt axis along Y (the second array axis): its wedge masks,
its augmentations that keep or move the wedge, n2v's struct mask across the ramp-filter
direction X. A tomogram whose tilt axis is X (``WedgeConfig.tilt_axis == "X"``) is
transposed (Y and X swapped) on its way into training and restoration and back on the way
out, here and nowhere else, so a model stores its tilt axis with its wedge and restores
data in the user's orientation.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def swaps_axes(wedge: Any) -> bool:
    """True when ``wedge`` (a ``WedgeConfig`` or None) has its tilt axis along X."""
    return wedge is not None and wedge.tilt_axis == "X"


def to_method_frame(array: Any, wedge: Any) -> Any:
    """``array`` (``(..., Y, X)``) with the tilt axis along Y: a view, never a copy.

    Memory maps stay memory maps (read tile by tile); other inputs pass through unchanged
    when no swap is needed.
    """
    if not swaps_axes(wedge):
        return array
    return np.swapaxes(array, -2, -1)


def from_method_frame(array: np.ndarray, wedge: Any) -> np.ndarray:
    """A result of the methods' frame (3D volume or 2D XY image) in the data's orientation."""
    if not swaps_axes(wedge):
        return array
    return np.ascontiguousarray(np.swapaxes(array, -2, -1))

"""Physics of tomography: the missing-wedge operator, Fourier helpers and rotations.

Pure torch, device-agnostic (every tensor is created on its input's device); the
conventions (tilt handedness, rotations ``v'(r) = v(A r)``, ``M'(k) = M(A k)``) are in
docs/architecture.md.
"""

from __future__ import annotations

from .fourier import fourier_correlation, fourier_shell_correlation, frequency_grid
from .rotations import (
    center_crop,
    cube_rotations,
    random_rotations,
    random_z_rotations,
    rotate_cube,
    rotate_volumes,
    rotation_crop_size,
)
from .wedge import MissingWedge, wedge_region_masks
from .wedge_estimate import WedgeEstimate, describe_estimate, estimate_tilt_range

__all__ = [
    "MissingWedge",
    "WedgeEstimate",
    "center_crop",
    "cube_rotations",
    "describe_estimate",
    "estimate_tilt_range",
    "fourier_correlation",
    "fourier_shell_correlation",
    "frequency_grid",
    "random_rotations",
    "random_z_rotations",
    "rotate_cube",
    "rotate_volumes",
    "rotation_crop_size",
    "wedge_region_masks",
]

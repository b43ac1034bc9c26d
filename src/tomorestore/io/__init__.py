"""Reading and writing tomograms: MRC family and TIFF, with voxel size and origin in Å.

Examples
--------
>>> from tomorestore.io import read_volume, write_volume
>>> vol = read_volume("tomo.rec")  # doctest: +SKIP
>>> vol.voxel_size  # (Z, Y, X) in Å  # doctest: +SKIP
(10.0, 10.0, 10.0)
>>> write_volume("restored.mrc", vol.with_data(restored))  # doctest: +SKIP
"""

from __future__ import annotations

from .atomic import atomic_write
from .dataset_table import DatasetRow, read_dataset_table
from .mrc import VoxelSizeWarning
from .tilt_angles import read_tilt_angles, tilt_range_from_angles
from .validation import check_halves, check_volume_array, choose_inputs
from .volume import Volume
from .volume_files import READ_SUFFIXES, WRITE_SUFFIXES, as_volume, read_volume, write_volume

__all__ = [
    "READ_SUFFIXES",
    "DatasetRow",
    "WRITE_SUFFIXES",
    "Volume",
    "VoxelSizeWarning",
    "as_volume",
    "atomic_write",
    "check_halves",
    "check_volume_array",
    "choose_inputs",
    "read_dataset_table",
    "read_tilt_angles",
    "read_volume",
    "tilt_range_from_angles",
    "write_volume",
]

"""Data preparation: intensity normalisation, foreground masks and sub-tomogram sampling."""

from __future__ import annotations

from .foreground import check_user_mask, foreground_mask
from .normalization import Normalization
from .sampling import PatchSampler, SmallVolumeWarning

__all__ = [
    "Normalization",
    "PatchSampler",
    "SmallVolumeWarning",
    "check_user_mask",
    "foreground_mask",
]

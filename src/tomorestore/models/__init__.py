"""The 3D U-Net, its configuration, and speed helpers (bf16 autocast, channels_last_3d)."""

from __future__ import annotations

from .config import NetworkConfig, build_network
from .performance import (
    autocast_context,
    bf16_supported,
    prepare_for_speed,
    to_channels_last_3d,
)
from .staged import StagedUNet, find_staged, routed
from .unet import UNet3D

__all__ = [
    "NetworkConfig",
    "StagedUNet",
    "UNet3D",
    "autocast_context",
    "bf16_supported",
    "build_network",
    "find_staged",
    "prepare_for_speed",
    "routed",
    "to_channels_last_3d",
]

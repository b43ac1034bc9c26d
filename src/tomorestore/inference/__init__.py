"""Tiled whole-tomogram inference: blended sliding windows, OOM fallback, cancellation."""

from __future__ import annotations

from .restore import restore_volume
from .tiled import predict_tiled

__all__ = ["predict_tiled", "restore_volume"]

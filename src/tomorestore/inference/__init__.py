"""Tiled whole-tomogram inference: blended sliding windows, OOM fallback, cancellation.

``predict_tiled`` and ``restore_volume`` import torch; they are loaded on first use so
that the torch-free parts (the tile planner, ``DEFAULT_OVERLAP``) can be imported by the
API and the command line without it.
"""

from __future__ import annotations

from typing import Any

from .tiling import DEFAULT_OVERLAP

__all__ = ["DEFAULT_OVERLAP", "predict_tiled", "restore_volume"]


def __getattr__(name: str) -> Any:
    if name == "predict_tiled":
        from .tiled import predict_tiled

        return predict_tiled
    if name == "restore_volume":
        from .restore import restore_volume

        return restore_volume
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""napari reader: open MRC-family and TIFF tomograms with their voxel size."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..io import READ_SUFFIXES, Volume, read_volume

LayerData = tuple[Any, dict[str, Any], str]
ReaderFunction = Callable[[Any], list[LayerData]]


def volume_layer_kwargs(volume: Volume, *, name: str, source: str | None = None) -> dict:
    """Image-layer keyword arguments that keep a volume's geometry in napari.

    Parameters
    ----------
    volume : Volume
        The tomogram.
    name : str
        Layer name.
    source : str, optional
        The file it came from (kept in the layer metadata).

    Returns
    -------
    dict
        ``name``, ``scale`` (voxel size, Å), ``translate`` (origin, Å), ``units``
        (angstrom) and ``metadata``.
    """
    metadata: dict[str, Any] = {"voxel_size": volume.voxel_size, "header": volume.header}
    if source is not None:
        metadata["source_path"] = source
    return {
        "name": name,
        "scale": volume.voxel_size,
        "translate": volume.origin,
        "units": ("angstrom",) * 3,
        "metadata": metadata,
    }


def _is_supported(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in READ_SUFFIXES


def get_reader(path: str | list[str]) -> ReaderFunction | None:
    """Return :func:`read_tomograms` when every path is a supported tomogram, else None."""
    paths = path if isinstance(path, list) else [path]
    if not paths or not all(_is_supported(p) for p in paths):
        return None
    return read_tomograms


def read_tomograms(path: str | list[str]) -> list[LayerData]:
    """Read one or several tomograms as napari image layers (data memory-mapped)."""
    paths = path if isinstance(path, list) else [path]
    layers: list[LayerData] = []
    for item in paths:
        file = Path(item)
        volume = read_volume(file)
        kwargs = volume_layer_kwargs(volume, name=file.stem, source=str(file))
        layers.append((volume.data, kwargs, "image"))
    return layers

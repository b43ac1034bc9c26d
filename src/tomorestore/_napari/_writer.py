"""napari writer: save an image layer as MRC with its voxel size and origin."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..io import Volume, write_volume


def _to_angstrom(unit: Any) -> float:
    """How many Å one ``unit`` is; 1 for pixels and unknown units (scale taken as Å)."""
    if unit is None:
        return 1.0
    import pint

    registry = pint.get_application_registry()
    try:
        quantity = 1 * (unit if isinstance(unit, pint.Unit) else registry.Unit(str(unit)))
        return float(quantity.to(registry.angstrom).magnitude)
    except (pint.errors.DimensionalityError, pint.errors.UndefinedUnitError, ValueError):
        return 1.0


def layer_geometry(attributes: dict[str, Any], ndim: int) -> tuple[list[float], list[float]]:
    """Voxel size and origin in Å from a layer's ``scale``, ``translate`` and ``units``."""
    scale = list(attributes.get("scale") or [1.0] * ndim)
    translate = list(attributes.get("translate") or [0.0] * ndim)
    units = list(attributes.get("units") or [None] * ndim)
    factors = [_to_angstrom(u) for u in units]
    voxel_size = [float(s) * f for s, f in zip(scale, factors, strict=False)]
    origin = [float(t) * f for t, f in zip(translate, factors, strict=False)]
    return voxel_size, origin


def write_mrc_layer(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """Write one image layer as a float32 MRC file (napari single-layer writer).

    The layer ``scale`` becomes the voxel size and ``translate`` the origin, converted to
    Å from the layer ``units`` (pixel units are taken as Å).

    Returns
    -------
    list of str
        The written path.
    """
    if attributes.get("multiscale"):
        data = data[0]
    if attributes.get("rgb"):
        raise InputError("Cannot save an RGB layer as a tomogram; choose a grayscale 3D layer.")
    array = np.asarray(data)
    if array.ndim != 3:
        raise InputError(
            f"Layer {attributes.get('name', '')!r}: expected a 3D volume (Z, Y, X), got shape "
            f"{array.shape}. Save a single 3D image layer."
        )
    voxel_size, origin = layer_geometry(attributes, array.ndim)
    volume = Volume(data=array, voxel_size=voxel_size, origin=origin)
    return [str(write_volume(path, volume))]

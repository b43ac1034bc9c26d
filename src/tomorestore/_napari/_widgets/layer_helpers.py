"""napari layers ↔ plain arrays: data snapshots, voxel size, geometry and output names.

The widgets never hand a layer to a worker thread: they take a float32 copy of its data
here (an immutable snapshot) plus its geometry, and build new layers from results with the
same scale, translate and units as the source.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import InputError
from .._writer import layer_geometry

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Layer


def image_layers(viewer: napari.Viewer) -> list[Image]:
    """The viewer's 3D (non-RGB, single-scale or multiscale) image layers, in order."""
    from napari.layers import Image

    return [
        layer
        for layer in viewer.layers
        if isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb
    ]


def find_layer(viewer: napari.Viewer, name: str | None, *, role: str) -> Layer:
    """The layer called ``name``; ``InputError`` naming the ``role`` when there is none."""
    if not name:
        raise InputError(
            f"No {role} layer is selected. Open a tomogram (File ▸ Open, or File ▸ Open "
            "Sample ▸ tomorestore) and pick it in the 'Data and wedge' panel."
        )
    if name not in viewer.layers:
        raise InputError(
            f"The {role} layer {name!r} is no longer in the viewer. Pick another layer in the "
            "'Data and wedge' panel."
        )
    return viewer.layers[name]


def layer_data(layer: Layer) -> Any:
    """The layer's full-resolution data (level 0 of a multiscale layer), not copied."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def layer_array(layer: Layer) -> np.ndarray:
    """An immutable (Z, Y, X) snapshot of an image layer's data, safe for a worker thread.

    A read-only array (e.g. the memory map of an MRC file opened with the plugin's reader)
    is passed through as it is, so large tomograms are read tile by tile; anything else is
    copied to float32.

    Raises
    ------
    InputError
        When the layer is not a 3D, real, finite volume.
    """
    array = np.asarray(layer_data(layer))
    if array.ndim != 3:
        raise InputError(
            f"Layer {layer.name!r} has shape {array.shape}; a tomogram must be 3D (Z, Y, X). "
            "Pick a 3D image layer."
        )
    if np.iscomplexobj(array):
        raise InputError(f"Layer {layer.name!r} is complex; pick a real-valued tomogram.")
    if not array.flags.writeable:
        return array  # the core checks it (finite values) while reading
    array = np.array(array, dtype=np.float32, copy=True)
    if not np.isfinite(array).all():
        raise InputError(
            f"Layer {layer.name!r} contains NaN or infinite values; fix or crop the tomogram "
            "before restoring it."
        )
    return array


def mask_array(layer: Layer, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean copy of a labels layer (non-zero = sample) checked against ``shape``."""
    array = np.asarray(layer.data)
    if array.shape != tuple(shape):
        raise InputError(
            f"The mask layer {layer.name!r} has shape {array.shape} but the tomogram has "
            f"shape {tuple(shape)}. Draw the mask on a Labels layer of the tomogram's shape."
        )
    mask = array != 0
    if not mask.any():
        raise InputError(
            f"The mask layer {layer.name!r} is empty. Paint the sample region, or choose "
            "'(none)' as mask."
        )
    return mask


def layer_voxel_size(layer: Layer) -> tuple[float, float, float]:
    """The layer's voxel size in Å (Z, Y, X) from its ``scale`` and ``units``."""
    units = getattr(layer, "units", None)
    attributes = {"scale": list(layer.scale), "units": list(units) if units else None}
    voxel_size, _ = layer_geometry(attributes, layer.ndim)
    return tuple(voxel_size)  # type: ignore[return-value]


def geometry_kwargs(layer: Layer) -> dict[str, Any]:
    """``scale``, ``translate`` and ``units`` of ``layer``, for a new layer on the same grid."""
    return {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "units": tuple(layer.units),
    }


def check_same_geometry(even: Layer, odd: Layer) -> None:
    """Raise ``InputError`` unless two half-tomogram layers share shape and scale."""
    if even is odd:
        raise InputError(
            f"Even and odd are the same layer ({even.name!r}). Pick the two half tomograms "
            "reconstructed from the even and the odd frames or tilts."
        )
    even_shape, odd_shape = tuple(even.data.shape), tuple(odd.data.shape)
    if even_shape != odd_shape:
        raise InputError(
            f"Even layer {even.name!r} has shape {even_shape} but odd layer {odd.name!r} has "
            f"shape {odd_shape}. Pick half tomograms reconstructed on the same grid."
        )
    if not np.allclose(even.scale, odd.scale, rtol=1e-4):
        raise InputError(
            f"Even layer {even.name!r} has scale {tuple(even.scale)} but odd layer "
            f"{odd.name!r} has scale {tuple(odd.scale)}. Both halves need the same voxel size."
        )


def source_name(names: list[str] | tuple[str, ...]) -> str:
    """The name outputs are called after: the layer, or the common stem of even/odd."""
    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(list(names)).rstrip(" _-.([")
    return prefix or names[0]


def restored_name(source: str, method: str) -> str:
    """Name of a restored volume: ``'<source> restored (<method>)'``."""
    return f"{source} restored ({method})"


def disagreement_name(source: str, method: str) -> str:
    """Name of the even/odd disagreement map: ``'<source> disagreement (<method>)'``."""
    return f"{source} disagreement ({method})"


def preview_name(source: str) -> str:
    """Name of the live training preview layer: ``'<source> preview'``."""
    return f"{source} preview"


def show_image(viewer: napari.Viewer, name: str, data: np.ndarray, **kwargs: Any) -> Image:
    """Update the image layer called ``name`` in place, or add it when missing."""
    from napari.layers import Image

    if name in viewer.layers and isinstance(viewer.layers[name], Image):
        layer = viewer.layers[name]
        if layer.data.shape == data.shape:
            layer.data = data
            for key in ("scale", "translate"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
            return layer
        viewer.layers.remove(layer)
    return viewer.add_image(data, name=name, **kwargs)

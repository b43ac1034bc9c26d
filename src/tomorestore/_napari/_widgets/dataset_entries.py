"""The entries of a napari data set, and whether they can train one model together.

An entry is a tomogram (or an even/odd pair) with the tilt range and sampling mask it was
added with. A data set is all single tomograms or all even/odd pairs, at one voxel size (one
model learns structures at one scale), with a tilt range for every tomogram or for none (an
entry without one would silently take another tomogram's wedge). Each pair is checked on
its own (same shape and scale) by :func:`~.layer_helpers.check_same_geometry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import InputError
from .layer_helpers import check_same_geometry, find_layer, layer_voxel_size
from .shared_state import DataSelection

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer


@dataclass(frozen=True, eq=False)
class DatasetEntry:
    """One tomogram of the data set: its layers and the wedge and mask it was added with.

    Entries hold the layers themselves (napari's proxies unwrapped), not their names: a
    renamed layer stays in the data set under its new name.

    Attributes
    ----------
    layers : tuple of Layer
        ``(tomogram,)`` or ``(even, odd)``.
    tilt_range : tuple of float or None
        ``(tilt_min, tilt_max)`` in degrees; None: no wedge.
    tilt_axis : {"Y", "X"}
    mask : Layer or None
        A labels layer of the tomogram's shape (training patches where it is non-zero).
    """

    layers: tuple[Layer, ...]
    tilt_range: tuple[float, float] | None
    tilt_axis: str = "Y"
    mask: Layer | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(unwrap(layer) for layer in self.layers))
        if self.mask is not None:
            object.__setattr__(self, "mask", unwrap(self.mask))

    @property
    def selection(self) -> DataSelection:
        """The entry as a :class:`DataSelection` (the layers' current names)."""
        return DataSelection(
            mode="halves" if len(self.layers) == 2 else "single",
            layers=tuple(str(layer.name) for layer in self.layers),
            tilt_range=self.tilt_range,
            tilt_axis=self.tilt_axis,  # type: ignore[arg-type]
            mask_layer=None if self.mask is None else str(self.mask.name),
        )

    def same_layers(self, other: DatasetEntry) -> bool:
        """True when ``other`` holds the same layers (it replaces this entry)."""
        return len(self.layers) == len(other.layers) and all(
            a is b for a, b in zip(self.layers, other.layers, strict=True)
        )

    def uses(self) -> list[Layer]:
        """Every layer the entry needs: its tomogram or halves, and its mask."""
        return [*self.layers, *([self.mask] if self.mask is not None else [])]

    def text(self) -> str:
        """The entry's line in the data-set list: layers, tilt range, mask."""
        selection = self.selection
        wedge = (
            f"{self.tilt_range[0]:g}° to {self.tilt_range[1]:g}° about {self.tilt_axis}"
            if self.tilt_range is not None
            else "no wedge"
        )
        mask = f", mask {selection.mask_layer!r}" if selection.mask_layer else ""
        return f"{describe_entry(selection)}: {wedge}{mask}"


def unwrap(layer: Any) -> Any:
    """The layer behind napari's ``PublicOnlyProxy`` (plugin widgets see proxies: a new one
    on every access, so only the layers behind them compare by identity)."""
    return getattr(layer, "__wrapped__", layer)


def entry_from_names(
    viewer: napari.Viewer,
    names: Sequence[str],
    *,
    tilt_range: tuple[float, float] | None,
    tilt_axis: str,
) -> DatasetEntry:
    """The entry for the layers ``names`` (one tomogram, or even and odd), checked.

    The tilt range is the one in the first layer's metadata (``tilt_range``, as the sample
    data and the plugin's reader of annotated files carry it), else ``tilt_range``.

    Raises
    ------
    InputError
        Not one or two names, a missing or non-volume layer, even/odd of different shape
        or scale.
    """
    from napari.layers import Image

    names = tuple(names)
    if len(names) not in (1, 2):
        raise InputError(
            f"A data-set entry is one tomogram or an (even, odd) pair, not {len(names)} "
            f"layers: {names}."
        )
    roles = ("even", "odd") if len(names) == 2 else ("tomogram",)
    layers = []
    for name, role in zip(names, roles, strict=True):
        layer = find_layer(viewer, name, role=role)
        if not isinstance(layer, Image) or layer.ndim != 3 or getattr(layer, "rgb", False):
            raise InputError(
                f"The {role} layer {name!r} is not a 3D image layer; a data set holds "
                "tomograms (Z, Y, X)."
            )
        layers.append(layer)
    if len(layers) == 2:
        check_same_geometry(*layers)
    stored = layers[0].metadata.get("tilt_range")
    if stored is not None and len(stored) == 2:
        tilt_range = (float(stored[0]), float(stored[1]))
        tilt_axis = str(layers[0].metadata.get("tilt_axis", tilt_axis)).upper()
    return DatasetEntry(layers=tuple(layers), tilt_range=tilt_range, tilt_axis=tilt_axis)


def describe_entry(entry: DataSelection) -> str:
    """``'t1'`` or ``'cell even' + 'cell odd'``: how messages name a data-set entry."""
    return " + ".join(repr(name) for name in entry.layers)


def format_voxel_size(size: Sequence[float]) -> str:
    """``'10×10×12 Å'``: a (Z, Y, X) voxel size for messages."""
    return "×".join(f"{s:g}" for s in size) + " Å"


def check_compatible(viewer: napari.Viewer, entries: Sequence[DataSelection]) -> None:
    """Raise ``InputError`` unless ``entries`` can form one data set.

    Parameters
    ----------
    viewer : napari.Viewer
        Whose layers the entries name.
    entries : sequence of DataSelection
        The tomograms (single or even/odd), each with its own tilt range.

    Raises
    ------
    InputError
        A layer that is gone, a layer used twice, single tomograms mixed with even/odd
        pairs, different voxel sizes, or a tilt range for some tomograms but not others.
    """
    from ...training.dataset import VOXEL_SIZE_TOLERANCE

    if len(entries) < 2:
        return
    first = entries[0]
    seen: dict[str, DataSelection] = {}
    reference = layer_voxel_size(find_layer(viewer, first.layers[0], role="tomogram"))
    for entry in entries:
        for name in entry.layers:
            if name in seen and seen[name] is not entry:
                raise InputError(
                    f"The layer {name!r} is in the data set twice ({describe_entry(seen[name])} "
                    f"and {describe_entry(entry)}); each tomogram belongs to one entry."
                )
            seen[name] = entry
        if entry.mode != first.mode:
            single, pair = (entry, first) if entry.mode == "single" else (first, entry)
            raise InputError(
                f"{describe_entry(single)} is one tomogram but {describe_entry(pair)} is an "
                "even/odd pair: a data set holds only single tomograms or only even/odd pairs "
                "(press Clear to start another)."
            )
        size = layer_voxel_size(find_layer(viewer, entry.layers[0], role="tomogram"))
        pairs = list(zip(reference, size, strict=True))
        if any(abs(a - b) > VOXEL_SIZE_TOLERANCE * max(abs(a), abs(b)) for a, b in pairs):
            raise InputError(
                f"{describe_entry(entry)} has voxel size {format_voxel_size(size)} but "
                f"{describe_entry(first)} has {format_voxel_size(reference)}: one model is "
                "trained at one voxel size. Bin or resample the tomograms to one voxel size "
                "first (e.g. IMOD's binvol), or check the layers' scale."
            )
        if (entry.tilt_range is None) != (first.tilt_range is None):
            without, with_range = (entry, first) if entry.tilt_range is None else (first, entry)
            raise InputError(
                f"{describe_entry(without)} has no tilt range but {describe_entry(with_range)} "
                "has one: give every tomogram of the data set its tilt range (tick 'Missing "
                "wedge: tilt range known', set or Estimate it, and Add the tomogram again), "
                "or none."
            )

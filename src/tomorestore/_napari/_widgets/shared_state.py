"""What the three widgets of one viewer share: the data selection and the current model.

One :class:`Session` per viewer (a weak registry: it goes away with the viewer). The
"Data and wedge" widget writes :attr:`Session.selection`; "Train" reads it and writes
:attr:`Session.model`; "Restore" reads both. Each widget also works alone: with no
selection made, the active image layer is used as a single tomogram without a wedge.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from psygnal import Signal

from ...errors import InputError
from .layer_helpers import (
    check_same_geometry,
    find_layer,
    geometry_kwargs,
    image_layers,
    layer_array,
    layer_voxel_size,
    mask_array,
    source_name,
)

if TYPE_CHECKING:
    import napari


@dataclass(frozen=True)
class DataSelection:
    """The user's choice of input data and missing wedge (layer names, not layers).

    Attributes
    ----------
    mode : {"single", "halves"}
        One tomogram, or even/odd half tomograms.
    layers : tuple of str
        ``(tomogram,)`` or ``(even, odd)`` layer names.
    tilt_range : tuple of float or None
        ``(tilt_min, tilt_max)`` in degrees, or None when the wedge is unknown/ignored.
    tilt_axis : {"Y", "X"}
        The tilt axis of the tilt series.
    mask_layer : str or None
        A labels layer whose non-zero voxels mark where the sample is.
    dataset : tuple of DataSelection
        The tomograms (or even/odd pairs) of a data set, each with its own tilt range and
        mask; empty when no data set is made. One model trains on all of them, and Restore
        can restore each. The fields above stay the current choice of the layer choosers.
    """

    mode: Literal["single", "halves"] = "single"
    layers: tuple[str, ...] = ()
    tilt_range: tuple[float, float] | None = None
    tilt_axis: Literal["Y", "X"] = "Y"
    mask_layer: str | None = None
    dataset: tuple[DataSelection, ...] = ()

    @property
    def has_halves(self) -> bool:
        """True for even/odd input."""
        return self.mode == "halves"

    @property
    def tomograms(self) -> tuple[DataSelection, ...]:
        """What training uses: the data set's entries, else this choice alone."""
        return self.dataset or (self,)

    @property
    def source(self) -> str:
        """The name outputs of this choice are called after (see :func:`source_name`)."""
        return source_name(self.layers) if self.layers else ""

    @property
    def wedge(self) -> dict[str, Any] | None:
        """The wedge as a plain dict (``tilt_min``, ``tilt_max``, ``tilt_axis``), or None."""
        if self.tilt_range is None:
            return None
        return {
            "tilt_min": float(self.tilt_range[0]),
            "tilt_max": float(self.tilt_range[1]),
            "tilt_axis": self.tilt_axis,
        }


@dataclass(frozen=True)
class InputSnapshot:
    """Arrays and geometry taken from the layers of a :class:`DataSelection`.

    Safe to hand to a worker thread: plain numpy copies and tuples, no layers. The arrays
    keep the layers' orientation whatever the tilt axis: the core handles a tilt axis
    along X itself (the ``WedgeConfig`` of the training configuration carries it).
    """

    selection: DataSelection
    halves: list[np.ndarray]
    mask: np.ndarray | None
    voxel_size: tuple[float, float, float]
    source: str
    geometry: dict[str, Any] = field(default_factory=dict)


class Session:
    """Per-viewer state shared by the widgets, with change signals."""

    selection_changed = Signal(object)
    model_changed = Signal(object)

    def __init__(self) -> None:
        self._selection: DataSelection | None = None
        self.model: Any = None
        self.model_path: str | None = None

    @property
    def selection(self) -> DataSelection | None:
        """The data chosen in "Data and wedge" (None until the user picks something)."""
        return self._selection

    @selection.setter
    def selection(self, value: DataSelection | None) -> None:
        if value != self._selection:
            self._selection = value
            self.selection_changed.emit(value)

    def set_model(self, model: Any, path: str | None = None) -> None:
        """Make ``model`` (a ``RestorationModel``) the current one and announce it."""
        self.model = model
        self.model_path = None if path is None else str(path)
        self.model_changed.emit(model)


_SESSIONS: weakref.WeakKeyDictionary[Any, Session] = weakref.WeakKeyDictionary()


def session_for(viewer: napari.Viewer) -> Session:
    """The :class:`Session` of ``viewer`` (created on first use).

    napari hands plugin widgets a proxy of the viewer; the session is keyed by the viewer
    behind it, so every widget of one viewer shares one session.
    """
    viewer = getattr(viewer, "__wrapped__", viewer)
    session = _SESSIONS.get(viewer)
    if session is None:
        session = _SESSIONS[viewer] = Session()
    return session


def effective_selection(viewer: napari.Viewer) -> DataSelection:
    """The session's selection (or data set), else the active (or only) 3D image layer."""
    selection = session_for(viewer).selection
    if selection is not None and (selection.layers or selection.dataset):
        return selection
    active = viewer.layers.selection.active
    candidates = image_layers(viewer)
    if active is not None and active in candidates:
        return DataSelection(mode="single", layers=(active.name,))
    if len(candidates) == 1:
        return DataSelection(mode="single", layers=(candidates[0].name,))
    raise InputError(
        "No tomogram chosen. Open the 'Data and wedge' panel (Plugins ▸ tomorestore) and pick "
        "the tomogram or the even/odd layers."
        if candidates
        else "There is no 3D image layer. Open a tomogram (File ▸ Open) or the sample "
        "(File ▸ Open Sample ▸ tomorestore)."
    )


def snapshot_inputs(viewer: napari.Viewer, selection: DataSelection) -> InputSnapshot:
    """Validate ``selection`` against the viewer and copy its data out of the layers.

    Raises
    ------
    InputError
        Missing layers, even/odd of different shape or scale, a mask of the wrong shape.
    """
    if selection.has_halves:
        if len(selection.layers) != 2:
            raise InputError("Even/odd mode needs two layers: pick the even and the odd half.")
        even = find_layer(viewer, selection.layers[0], role="even")
        odd = find_layer(viewer, selection.layers[1], role="odd")
        check_same_geometry(even, odd)
        layers = [even, odd]
    else:
        layers = [
            find_layer(viewer, selection.layers[0] if selection.layers else None, role="tomogram")
        ]
    halves = [layer_array(layer) for layer in layers]
    mask = None
    if selection.mask_layer:
        mask_layer = find_layer(viewer, selection.mask_layer, role="mask")
        mask = mask_array(mask_layer, halves[0].shape)
    return InputSnapshot(
        selection=selection,
        halves=halves,
        mask=mask,
        voxel_size=layer_voxel_size(layers[0]),
        source=source_name([layer.name for layer in layers]),
        geometry=geometry_kwargs(layers[0]),
    )


def snapshot_tomograms(viewer: napari.Viewer, selection: DataSelection) -> list[InputSnapshot]:
    """Snapshots of every tomogram training uses: the data set's entries, else ``selection``.

    Raises
    ------
    InputError
        What :func:`snapshot_inputs` rejects for any entry, and a data set whose entries
        do not fit together (:func:`~.dataset_entries.check_compatible`).
    """
    from .dataset_entries import check_compatible

    entries = selection.tomograms
    check_compatible(viewer, entries)
    return [snapshot_inputs(viewer, entry) for entry in entries]


def training_input(snapshots: list[InputSnapshot]) -> tuple[Any, np.ndarray | None]:
    """``(halves, mask)`` for the core's ``train_events`` from the tomograms' snapshots.

    One tomogram: its halves and mask, as before data sets. Several: a list of the core's
    :class:`~tomorestore.training.dataset.Tomogram` (each with its own wedge, mask, name
    and voxel size; plain arrays, safe for a worker thread) and no shared mask.
    """
    if len(snapshots) == 1:
        return snapshots[0].halves, snapshots[0].mask
    from ...training.config import make_wedge
    from ...training.dataset import Tomogram

    tomograms = [
        Tomogram(
            halves=snapshot.halves,
            wedge=make_wedge(snapshot.selection.tilt_range, snapshot.selection.tilt_axis),
            mask=snapshot.mask,
            name=snapshot.source,
            voxel_size=snapshot.voxel_size,
        )
        for snapshot in snapshots
    ]
    return tomograms, None

"""The "Data and wedge" dock widget: which layers to restore, and the missing wedge.

It writes the choice to the viewer's :class:`~.shared_state.Session`, where "Train" and
"Restore" read it. "Show wedge" puts the power spectrum of the tilt plane beside the
tomogram with the boundary of the measured sector, so the user sees whether the tilt range
matches the data. "Estimate" measures the tilt range from the chosen tomogram's (or even
half's) own power spectrum in a thread worker and fills it in. The "Data set" section
collects several tomograms (or even/odd pairs), each with its own tilt range, to train one
model on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, Container, PushButton, RadioButtons
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...errors import InputError
from .config_form import ConfigForm
from .dataset_entries import DatasetEntry, check_compatible, entry_from_names
from .dataset_section import DatasetSection
from .layer_combo import LAYER_EVENTS, LayerChooser
from .layer_helpers import check_same_geometry, find_layer, layer_data, mask_array
from .notify import describe_exception, guarded, notify_error, notify_info, notify_warning
from .shared_state import DataSelection, session_for
from .wedge_view import tilt_plane_spectrum, wedge_boundary_lines

if TYPE_CHECKING:
    from collections.abc import Iterator

    import napari
    from napari.layers import Image, Shapes

    from ...physics.wedge_estimate import WedgeEstimate

_NOT_INPUT = ("even", "odd", "truth", "restored", "preview", "disagreement", "spectrum")
MODES = [("One tomogram", "single"), ("Even/odd halves", "halves")]
DEFAULT_TILT_RANGE = (-60.0, 60.0)


def _looks_like(word: str):
    return lambda name: word in name.lower()


def _looks_like_tomogram(name: str) -> bool:
    return not any(word in name.lower() for word in _NOT_INPUT)


def _is_volume(layer: Any) -> bool:
    return layer.ndim == 3 and not getattr(layer, "rgb", False)


class DataWedgeWidget(QWidget):
    """Pick the tomogram (or even/odd halves), the tilt range and an optional mask.

    The controls are a magicgui form: layer choosers (magicgui's layer widgets, listing
    this viewer's 3D layers) and the tilt range generated from the core's ``WedgeConfig``.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.

    Examples
    --------
    >>> dock, data = viewer.window.add_plugin_dock_widget(  # doctest: +SKIP
    ...     "tomorestore", "Data and wedge")
    >>> data.set_halves("synthetic even", "synthetic odd")  # doctest: +SKIP
    >>> data.set_tilt_range(-60, 60)  # doctest: +SKIP
    >>> spectrum, outline = data.show_wedge()  # doctest: +SKIP
    >>> estimate = data.estimate_wedge()  # fills the tilt range  # doctest: +SKIP
    >>> data.set_dataset(["tomo 1", "tomo 2"])  # one model for both  # doctest: +SKIP
    """

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self._last_warning: str | None = None
        self._quiet = True  # no reaction to changes while building or batching
        self._refreshing = False  # True while the layer list changes the choices
        self._estimate: tuple[str, WedgeEstimate] | None = None  # (layer name, estimate)
        self.estimate_worker: Any = None  # the running Estimate worker, if any
        self._build()
        self._connect()
        even, odd = self.even.name, self.odd.name
        has_pair = bool(even and odd and even != odd and "even" in even.lower())
        self.mode.value = "halves" if has_pair else "single"
        self._quiet = False
        self._take_tilt_range_from_metadata()
        self._on_change()

    # -- construction ---------------------------------------------------------------------

    def _build(self) -> None:
        from napari.layers import Image, Labels

        from ...training.config import WedgeConfig

        viewer = self.viewer
        self.mode = RadioButtons(
            name="mode",
            label="Input",
            choices=MODES,
            value="single",
            orientation="horizontal",
            tooltip="One tomogram (Noise2Void, equivariant imaging), or two half tomograms "
            "reconstructed from the even and the odd frames or tilts (enables Noise2Noise "
            "and missing-wedge restoration).",
        )
        self.tomogram = LayerChooser(
            viewer,
            Image,
            name="tomogram",
            label="Tomogram",
            accept=_is_volume,
            prefer=_looks_like_tomogram,
            tooltip="The 3D image layer to restore.",
        )
        self.even = LayerChooser(
            viewer,
            Image,
            name="even",
            label="Even half",
            accept=_is_volume,
            prefer=_looks_like("even"),
            tooltip="Half tomogram of the even frames or tilts.",
        )
        self.odd = LayerChooser(
            viewer,
            Image,
            name="odd",
            label="Odd half",
            accept=_is_volume,
            prefer=_looks_like("odd"),
            tooltip="Half tomogram of the odd frames or tilts.",
        )
        self.wedge_check = CheckBox(
            name="wedge",
            text="Missing wedge: tilt range known",
            value=True,
            tooltip="The tilt range of the tilt series; needed to fill the missing wedge "
            "(dewedge, ei).",
        )
        self.wedge_form = ConfigForm(
            WedgeConfig,
            ("tilt_min", "tilt_max", "tilt_axis"),
            values={"tilt_min": DEFAULT_TILT_RANGE[0], "tilt_max": DEFAULT_TILT_RANGE[1]},
            name="tilt",
            label="Wedge",
        )
        for box in (self.wedge_form.tilt_min, self.wedge_form.tilt_max):
            box.native.setSuffix(" °")
        self.estimate_button = PushButton(
            name="estimate_wedge",
            text="Estimate",
            tooltip="Estimate the tilt range from the tomogram's (or even half's) own power "
            "spectrum: the measured region holds the power, the missing wedge little. Fills "
            "in the range when the wedge is clear; the summary shows the confidence.",
        )
        self.mask = LayerChooser(
            viewer,
            Labels,
            name="mask",
            label="Sample mask",
            accept=_is_volume,
            optional=True,
            tooltip="Optional labels layer: training patches are drawn where it is non-zero.",
        )
        self.show_wedge_button = PushButton(
            name="show_wedge",
            text="Show wedge",
            tooltip="Show the power spectrum of the plane normal to the tilt axis with the "
            "boundary of the measured sector (yellow lines): the dark missing wedge should "
            "lie outside the sector between the lines.",
        )
        self.dataset_section = DatasetSection(on_change=self._on_change)
        self.form = Container(
            widgets=[
                self.mode,
                self.tomogram.widget,
                self.even.widget,
                self.odd.widget,
                self.wedge_check,
                self.wedge_form,
                self.estimate_button,
                self.mask.widget,
                self.show_wedge_button,
                self.dataset_section,
            ]
        )
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form.native)
        layout.addWidget(self.summary_label)
        layout.addStretch(1)

    @property
    def _choosers(self) -> tuple[LayerChooser, ...]:
        return (self.tomogram, self.even, self.odd, self.mask)

    @property
    def _source_chooser(self) -> LayerChooser:
        """The chooser whose layer's metadata may carry the tilt range."""
        return self.even if self.mode.value == "halves" else self.tomogram

    def _connect(self) -> None:
        for widget in (
            self.mode,
            self.tomogram.widget,
            self.even.widget,
            self.odd.widget,
            self.wedge_check,
            self.wedge_form,
            self.mask.widget,
        ):
            widget.changed.connect(self._on_change)
        for chooser in (self.tomogram, self.even):
            chooser.widget.changed.connect(self._take_tilt_range_from_metadata)
        self.mode.changed.connect(self._take_tilt_range_from_metadata)
        self.show_wedge_button.changed.connect(self._on_show_wedge_clicked)
        self.estimate_button.changed.connect(self._on_estimate_clicked)
        self.dataset_section.add_button.changed.connect(self._on_add_clicked)
        for name in LAYER_EVENTS:
            getattr(self.viewer.layers.events, name).connect(self.reset_choices)

    # -- public API -----------------------------------------------------------------------

    @property
    def selection(self) -> DataSelection:
        """The current choice and the data set as an immutable :class:`DataSelection`."""
        halves = self.mode.value == "halves"
        names = (self.even.name, self.odd.name) if halves else (self.tomogram.name,)
        tilt_range = None
        wedge = self.wedge_form.values()
        if self.wedge_check.value:
            tilt_range = (float(wedge["tilt_min"]), float(wedge["tilt_max"]))
        return DataSelection(
            mode="halves" if halves else "single",
            layers=tuple(n for n in names if n),
            tilt_range=tilt_range,
            tilt_axis=wedge["tilt_axis"],
            mask_layer=self.mask.name,
            dataset=self.dataset_section.selections(),
        )

    @property
    def dataset(self) -> tuple[DataSelection, ...]:
        """The data set's tomograms (empty: none; then Train uses the choice above)."""
        return self.dataset_section.selections()

    def set_single(self, name: str) -> None:
        """Use the image layer ``name`` as one tomogram."""
        with self._batch():
            self._choose(self.tomogram, name)
            self.mode.value = "single"
        self._take_tilt_range_from_metadata()

    def set_halves(self, even: str, odd: str) -> None:
        """Use the image layers ``even`` and ``odd`` as half tomograms."""
        with self._batch():
            self._choose(self.even, even)
            self._choose(self.odd, odd)
            self.mode.value = "halves"
        self._take_tilt_range_from_metadata()

    def set_tilt_range(
        self, tilt_min: float | None, tilt_max: float | None = None, tilt_axis: str = "Y"
    ) -> None:
        """Set the tilt range in degrees and the tilt axis (``set_tilt_range(None)``: no wedge).

        Raises
        ------
        InputError
            For one angle without the other, or what the core's ``WedgeConfig`` rejects
            (angles outside (-90, 90), an empty range, an unknown axis).
        """
        from ...training.config import make_wedge

        if tilt_min is None:
            self.wedge_check.value = False
            return
        if tilt_max is None:
            raise InputError("give both tilt_min and tilt_max, e.g. set_tilt_range(-60, 60).")
        wedge = make_wedge((tilt_min, tilt_max), tilt_axis)  # validated as the core does
        with self._batch():
            try:
                self.wedge_form.set_values(
                    wedge.model_dump(include=set(self.wedge_form.field_names))
                )
            except ValueError as exc:  # representable by the core, not by the spin boxes
                raise InputError(f"invalid tilt range: {exc}") from None
            self.wedge_check.value = True

    def set_mask(self, name: str | None) -> None:
        """Use the labels layer ``name`` as sampling mask (None: no mask)."""
        with self._batch():
            self._choose(self.mask, name)

    def add_to_dataset(self) -> bool:
        """Add the chosen tomogram (or even/odd pair) to the data set (the *Add* button).

        It keeps the tilt range, tilt axis and mask set now; adding the same layers again
        updates them. Returns False (with a notification) when the choice is not valid or
        does not fit the data set (mixed single/pairs, another voxel size, a tilt range for
        some tomograms only).
        """
        try:
            entry = self._current_entry()
            others = [e for e in self.dataset_section.entries if not e.same_layers(entry)]
            check_compatible(self.viewer, [e.selection for e in [*others, entry]])
        except InputError as exc:
            notify_error(str(exc))
            return False
        with self._batch():
            self.dataset_section.put(entry)
        return True

    def set_dataset(self, names: Sequence[str]) -> bool:
        """Make the image layers ``names`` the data set, one tomogram each.

        Each tomogram takes the tilt range in its layer's metadata, else the one set now
        (:meth:`set_tilt_range`); no sampling mask (use :meth:`add_to_dataset` for one).
        Returns False (with a notification, the data set unchanged) on bad input.
        """
        names = [names] if isinstance(names, str) else names  # one name, not its letters
        return self._replace_dataset([(name,) for name in names], pairs=False)

    def set_dataset_pairs(self, pairs: Sequence[tuple[str, str]]) -> bool:
        """Make the ``(even, odd)`` layer pairs the data set; as :meth:`set_dataset`."""
        return self._replace_dataset([tuple(pair) for pair in pairs], pairs=True)

    def clear_dataset(self) -> None:
        """Empty the data set (Train and Restore use the choice above again)."""
        with self._batch():
            self.dataset_section.set_entries([])

    def reset_choices(self, *args: Any) -> None:
        """List the viewer's layers again (napari calls this on layer-list changes)."""
        self._refreshing = True
        try:
            source = self._source_chooser.layer
            with self._batch():
                for chooser in self._choosers:
                    chooser.reset()
                dropped = self.dataset_section.prune(list(self.viewer.layers))
            if dropped:  # told from the event loop, unless the viewer closed meanwhile
                QTimer.singleShot(0, partial(self._tell_dropped, dropped))
            if self._source_chooser.layer is not source:
                self._take_tilt_range_from_metadata()
        except RuntimeError as exc:  # the widget's Qt side is already deleted
            if "deleted" not in str(exc):
                raise
        finally:
            self._refreshing = False

    def check(self) -> bool:
        """Validate the current choice; show a notification and return False if it is bad."""
        try:
            self._validate(self.selection)
        except InputError as exc:
            notify_error(str(exc))
            return False
        return True

    def show_wedge(self) -> tuple[Image, Shapes] | None:
        """Add (or replace) the tilt-plane spectrum and the wedge outline beside the data.

        Returns
        -------
        tuple of (Image, Shapes) or None
            The spectrum layer and the outline layer (None, with a notification, when no
            tomogram is chosen).
        """
        try:
            return self._show_wedge()
        except InputError as exc:
            notify_error(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised into Qt
            notify_error(f"Could not show the wedge: {describe_exception(exc)}")
        return None

    def estimate_wedge(self) -> WedgeEstimate | None:
        """Estimate the tilt range of the chosen tomogram (or even half) here and now.

        The *Estimate* button does the same in a thread worker (:meth:`start_estimate`).
        A clear estimate (confidence at least 0.5) fills in the tilt range and ticks
        "tilt range known"; a doubtful one leaves the range as it is and warns.

        Returns
        -------
        WedgeEstimate or None
            The estimate (None, with a notification, when there is no tomogram or the
            estimate fails).
        """
        try:
            name, data, axis = self._estimate_input()
            from ...physics.wedge_estimate import estimate_tilt_range

            estimate = estimate_tilt_range(data, tilt_axis=axis)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised into Qt
            notify_error(f"Could not estimate the tilt range: {describe_exception(exc)}")
            return None
        self._apply_estimate(name, estimate)
        return estimate

    def start_estimate(self) -> Any:
        """Start estimating the tilt range in a napari thread worker; return the worker.

        Only the layer's array (read, never written) and the tilt axis go to the worker;
        the result is applied as by :meth:`estimate_wedge` when the worker returns.
        Returns None (with a notification) when there is no tomogram.
        """
        from napari.qt.threading import create_worker

        from ...physics.wedge_estimate import estimate_tilt_range

        try:
            name, data, axis = self._estimate_input()
        except InputError as exc:
            notify_error(str(exc))
            return None
        worker = create_worker(estimate_tilt_range, data, tilt_axis=axis)
        worker.returned.connect(partial(self._on_estimated, name))
        worker.errored.connect(self._on_estimate_failed)
        worker.finished.connect(self._on_estimate_finished)
        self.estimate_worker = worker
        self.estimate_button.enabled = False
        self.estimate_button.text = "Estimating…"
        worker.start()
        return worker

    # -- internals ------------------------------------------------------------------------

    def _current_entry(self) -> DatasetEntry:
        """The chosen layers with the tilt range and mask set now, checked."""
        selection = self.selection
        self._validate(selection)
        layers = tuple(self.viewer.layers[name] for name in selection.layers)
        mask = None
        if selection.mask_layer:
            mask = find_layer(self.viewer, selection.mask_layer, role="mask")
            mask_array(mask, layers[0].data.shape)  # the tomogram's shape, not empty
        return DatasetEntry(
            layers=layers,
            tilt_range=selection.tilt_range,
            tilt_axis=selection.tilt_axis,
            mask=mask,
        )

    def _replace_dataset(self, items: list[tuple[str, ...]], *, pairs: bool) -> bool:
        current = self.selection
        try:
            odd_ones = [item for item in items if len(item) != (2 if pairs else 1)]
            if odd_ones:
                raise InputError(
                    f"{odd_ones[0]} is not an (even, odd) pair of layer names."
                    if pairs
                    else f"{odd_ones[0]} is not one layer name."
                )
            entries = [
                entry_from_names(
                    self.viewer,
                    names,
                    tilt_range=current.tilt_range,
                    tilt_axis=current.tilt_axis,
                )
                for names in items
            ]
            check_compatible(self.viewer, [entry.selection for entry in entries])
        except InputError as exc:
            notify_error(str(exc))
            return False
        with self._batch():
            self.dataset_section.set_entries(entries)
        return True

    @guarded
    def _on_add_clicked(self, *args: Any) -> None:
        self.add_to_dataset()

    @guarded
    def _tell_dropped(self, dropped: list[str]) -> None:
        if len(self.viewer.layers):  # closing the viewer removes every layer first
            notify_warning(
                f"Removed from the data set (a layer was deleted): {', '.join(dropped)}."
            )

    def _estimate_input(self) -> tuple[str, Any, str]:
        """``(layer name, data, tilt axis)`` of the layer to estimate the wedge from."""
        chooser = self._source_chooser
        role = "even half" if chooser is self.even else "tomogram"
        layer = find_layer(self.viewer, chooser.name, role=role)
        return layer.name, layer_data(layer), str(self.wedge_form.tilt_axis.value)

    def _apply_estimate(self, name: str, estimate: WedgeEstimate) -> None:
        from ...physics.wedge_estimate import LOW_CONFIDENCE

        found = (
            f"{estimate.tilt_min:.1f}° to {estimate.tilt_max:.1f}° about {estimate.tilt_axis} "
            f"(confidence {estimate.confidence:.2f})"
        )
        if estimate.confidence < LOW_CONFIDENCE:
            notify_warning(
                f"{name!r} shows no clear missing wedge in its power spectrum: the best guess, "
                f"{found}, is too doubtful, so the tilt range was left as it is. Enter it "
                "from the tilt series (.tlt/.mdoc) or check the tilt axis."
            )
            return
        self._estimate = (name, estimate)
        self.set_tilt_range(
            round(estimate.tilt_min, 2), round(estimate.tilt_max, 2), estimate.tilt_axis
        )
        notify_info(f"Tilt range of {name!r} estimated from its power spectrum: {found}.")

    def _estimate_note(self, selection: DataSelection) -> str:
        """Note for the summary, when the range shown is the last estimate's, else ""."""
        if self._estimate is None or selection.tilt_range is None or not selection.layers:
            return ""
        name, estimate = self._estimate
        same = (
            name == selection.layers[0]
            and estimate.tilt_axis == selection.tilt_axis
            and max(
                abs(a - b) for a, b in zip(selection.tilt_range, estimate.tilt_range, strict=True)
            )
            < 0.01
        )
        return f" (estimated, confidence {estimate.confidence:.2f})" if same else ""

    @guarded
    def _on_estimate_clicked(self, *args: Any) -> None:
        self.start_estimate()

    @guarded
    def _on_estimated(self, name: str, estimate: WedgeEstimate) -> None:
        if self._source_chooser.name != name:  # the user picked another layer meanwhile
            notify_warning(
                f"The tilt range estimated for {name!r} was not applied: another layer is "
                "chosen now. Press Estimate again."
            )
            return
        self._apply_estimate(name, estimate)

    @guarded
    def _on_estimate_failed(self, exc: BaseException) -> None:
        notify_error(f"Could not estimate the tilt range: {describe_exception(exc)}")

    @guarded
    def _on_estimate_finished(self, *args: Any) -> None:
        self.estimate_worker = None
        self.estimate_button.enabled = True
        self.estimate_button.text = "Estimate"

    def _validate(self, selection: DataSelection) -> None:
        if selection.has_halves:
            if len(selection.layers) != 2:
                raise InputError("Pick both the even and the odd half-tomogram layers.")
            even = find_layer(self.viewer, selection.layers[0], role="even")
            odd = find_layer(self.viewer, selection.layers[1], role="odd")
            check_same_geometry(even, odd)
        elif not selection.layers:
            raise InputError(
                "No tomogram layer: open a tomogram (File ▸ Open) or the sample "
                "(File ▸ Open Sample ▸ tomorestore)."
            )
        else:
            find_layer(self.viewer, selection.layers[0], role="tomogram")
        if (
            selection.tilt_range is not None
            and not selection.tilt_range[0] < selection.tilt_range[1]
        ):
            raise InputError(
                f"The tilt range {selection.tilt_range[0]:g}° to {selection.tilt_range[1]:g}° "
                "is empty: the minimum must be below the maximum."
            )

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Change several controls, then react once (nested batches react at the end)."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet
        self._on_change()

    @staticmethod
    def _choose(chooser: LayerChooser, name: str | None) -> None:
        try:
            chooser.choose(name)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    @guarded
    def _on_change(self, *args: Any) -> None:
        if self._quiet:
            return
        halves = self.mode.value == "halves"
        self.tomogram.widget.enabled = not halves
        self.even.widget.enabled = halves
        self.odd.widget.enabled = halves
        self.wedge_form.enabled = bool(self.wedge_check.value)
        selection = self.selection
        self.session.selection = selection
        try:
            self._validate(selection)
        except InputError as exc:
            message = str(exc)
            self.summary_label.setText(f"⚠ {message}")
            by_user = not self._refreshing  # not a layer-list update
            if message != self._last_warning and selection.layers and by_user:
                notify_error(message)
            self._last_warning = message
            return
        self._last_warning = None
        self.summary_label.setText(self._describe(selection))

    def _describe(self, selection: DataSelection) -> str:
        layer = self.viewer.layers[selection.layers[0]]
        shape = "×".join(str(n) for n in layer.data.shape)
        size = "×".join(f"{s:g}" for s in layer.scale)
        what = " + ".join(repr(n) for n in selection.layers)
        wedge = (
            f"tilt {selection.tilt_range[0]:g}° to {selection.tilt_range[1]:g}° about "
            f"{selection.tilt_axis}{self._estimate_note(selection)}"
            if selection.tilt_range
            else "no wedge"
        )
        mask = f", mask {selection.mask_layer!r}" if selection.mask_layer else ""
        return f"{what}: {shape} voxels of {size} Å; {wedge}{mask}."

    @guarded
    def _take_tilt_range_from_metadata(self, *args: Any) -> None:
        """Pre-fill the tilt range from layer metadata (the sample data carries it)."""
        if self._quiet:
            return
        layer = self._source_chooser.layer
        if layer is None:
            return
        tilt_range = layer.metadata.get("tilt_range")
        if tilt_range is not None and len(tilt_range) == 2:
            axis = layer.metadata.get("tilt_axis", self.wedge_form.tilt_axis.value)
            self.set_tilt_range(float(tilt_range[0]), float(tilt_range[1]), axis)

    @guarded
    def _on_show_wedge_clicked(self, *args: Any) -> None:
        self.show_wedge()

    def _show_wedge(self) -> tuple[Image, Shapes]:
        selection = self.selection
        self._validate(selection)
        if selection.tilt_range is None:
            raise InputError(
                "Tick 'Missing wedge: tilt range known' and enter the tilt range to compare "
                "it with the data."
            )
        layers = [self.viewer.layers[name] for name in selection.layers]
        spectrum = sum(
            tilt_plane_spectrum(layer_data(layer), selection.tilt_axis) for layer in layers
        )
        spectrum = np.asarray(spectrum / len(layers), dtype=np.float32)
        lines = wedge_boundary_lines(spectrum.shape, selection.tilt_range)

        # Square in frequency, as tall as the tomogram's Y extent, placed to its right.
        source = layers[0]
        extent = float(source.data.shape[1] * source.scale[1])
        right = float(source.translate[2] + source.data.shape[2] * source.scale[2])
        scale = (extent / spectrum.shape[0], extent / spectrum.shape[1])
        translate = (float(source.translate[1]), right + 0.05 * extent)
        units = tuple(source.units)[1:]  # same world units as the tomogram beside it
        base = selection.layers[0] if len(layers) == 1 else f"{layers[0].name}+{layers[1].name}"
        spectrum_name, outline_name = f"{base} wedge spectrum", f"{base} wedge outline"
        for name in (spectrum_name, outline_name):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        image = self.viewer.add_image(
            spectrum,
            name=spectrum_name,
            scale=scale,
            translate=translate,
            units=units,
            colormap="magma",
            metadata={"tomorestore": {"wedge": selection.wedge, "kind": "tilt-plane spectrum"}},
        )
        outline = self.viewer.add_shapes(
            lines,
            shape_type="line",
            name=outline_name,
            scale=scale,
            translate=translate,
            units=units,
            edge_color="yellow",
            edge_width=max(spectrum.shape) / 150,
        )
        notify_info(
            f"Spectrum of the plane normal to the tilt axis beside {source.name!r}: the "
            "measured sector lies between the yellow lines (around the horizontal axis); "
            "the dark missing wedge should fill the rest."
        )
        return image, outline

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        for name in LAYER_EVENTS:
            getattr(self.viewer.layers.events, name).disconnect(self.reset_choices)
        super().closeEvent(event)

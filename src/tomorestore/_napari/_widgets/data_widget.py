"""The "Data and wedge" dock widget: which layers to restore, and the missing wedge.

It writes the choice to the viewer's :class:`~.shared_state.Session`, where "Train" and
"Restore" read it. "Show wedge" puts the power spectrum of the tilt plane beside the
tomogram with the boundary of the measured sector, so the user sees whether the tilt range
matches the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ...errors import InputError
from .layer_combo import LayerCombo
from .layer_helpers import (
    check_same_geometry,
    find_layer,
    image_layers,
    labels_layers,
    layer_data,
)
from .notify import describe_exception, guarded, notify_error, notify_info
from .shared_state import DataSelection, session_for
from .wedge_view import tilt_plane_spectrum, wedge_boundary_lines

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Shapes

_NOT_INPUT = ("even", "odd", "truth", "restored", "preview", "disagreement", "spectrum")


def _looks_like(word: str):
    return lambda name: word in name.lower()


def _looks_like_tomogram(name: str) -> bool:
    return not any(word in name.lower() for word in _NOT_INPUT)


def _angle_box(value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(-89.9, 89.9)
    box.setDecimals(1)
    box.setSingleStep(1.0)
    box.setSuffix(" °")
    box.setValue(value)
    return box


class DataWedgeWidget(QWidget):
    """Pick the tomogram (or even/odd halves), the tilt range and an optional mask.

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
    """

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self._last_warning: str | None = None
        self._building = True

        self.single_radio = QRadioButton("One tomogram")
        self.halves_radio = QRadioButton("Even/odd halves")
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.single_radio)
        self._mode_group.addButton(self.halves_radio)
        self.tomogram_combo = LayerCombo(napari_viewer, image_layers, prefer=_looks_like_tomogram)
        self.even_combo = LayerCombo(napari_viewer, image_layers, prefer=_looks_like("even"))
        self.odd_combo = LayerCombo(napari_viewer, image_layers, prefer=_looks_like("odd"))
        self.wedge_check = QCheckBox("Missing wedge: tilt range known")
        self.wedge_check.setChecked(True)
        self.tilt_min_box = _angle_box(-60.0)
        self.tilt_max_box = _angle_box(60.0)
        self.tilt_axis_combo = QComboBox()
        self.tilt_axis_combo.addItems(["Y", "X"])
        self.mask_combo = LayerCombo(napari_viewer, labels_layers, allow_none=True)
        self.show_wedge_button = QPushButton("Show wedge")
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self._set_tooltips()
        self._build_layout()

        for signal in (
            self.single_radio.toggled,
            self.tomogram_combo.currentIndexChanged,
            self.even_combo.currentIndexChanged,
            self.odd_combo.currentIndexChanged,
            self.wedge_check.toggled,
            self.tilt_min_box.valueChanged,
            self.tilt_max_box.valueChanged,
            self.tilt_axis_combo.currentIndexChanged,
            self.mask_combo.currentIndexChanged,
        ):
            signal.connect(self._on_change)
        for combo in (self.tomogram_combo, self.even_combo):
            combo.currentIndexChanged.connect(self._take_tilt_range_from_metadata)
        self.show_wedge_button.clicked.connect(self._on_show_wedge_clicked)

        even, odd = self.even_combo.current_name(), self.odd_combo.current_name()
        has_pair = bool(even and odd and even != odd and "even" in even.lower())
        (self.halves_radio if has_pair else self.single_radio).setChecked(True)
        self._building = False
        self._take_tilt_range_from_metadata()
        self._on_change()

    # -- layout ---------------------------------------------------------------------------

    def _set_tooltips(self) -> None:
        self.single_radio.setToolTip("Restore one tomogram (Noise2Void, equivariant imaging).")
        self.halves_radio.setToolTip(
            "Restore from two half tomograms reconstructed from the even and the odd frames "
            "or tilts (enables Noise2Noise and missing-wedge restoration)."
        )
        self.wedge_check.setToolTip(
            "The tilt range of the tilt series; needed to fill the missing wedge (dewedge, ei)."
        )
        self.tilt_min_box.setToolTip("Lowest tilt angle (degrees); asymmetric ranges are fine.")
        self.tilt_max_box.setToolTip("Highest tilt angle (degrees).")
        self.tilt_axis_combo.setToolTip("Tilt axis of the tilt series: Y for most tomograms.")
        self.mask_combo.setToolTip(
            "Optional labels layer: training patches are drawn where it is non-zero."
        )
        self.show_wedge_button.setToolTip(
            "Show the power spectrum of the plane normal to the tilt axis with the boundary "
            "of the measured sector (yellow lines): the dark missing wedge should lie "
            "outside the sector between the lines."
        )

    def _build_layout(self) -> None:
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.single_radio)
        mode_row.addWidget(self.halves_radio)
        form = QFormLayout()
        form.addRow(mode_row)
        form.addRow("Tomogram", self.tomogram_combo)
        form.addRow("Even half", self.even_combo)
        form.addRow("Odd half", self.odd_combo)
        form.addRow(self.wedge_check)
        tilt_row = QHBoxLayout()
        tilt_row.addWidget(self.tilt_min_box)
        tilt_row.addWidget(QLabel("to"))
        tilt_row.addWidget(self.tilt_max_box)
        form.addRow("Tilt range", tilt_row)
        form.addRow("Tilt axis", self.tilt_axis_combo)
        form.addRow("Sample mask", self.mask_combo)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.show_wedge_button)
        layout.addWidget(self.summary_label)
        layout.addStretch(1)

    # -- public API -----------------------------------------------------------------------

    @property
    def selection(self) -> DataSelection:
        """The current choice as an immutable :class:`DataSelection` (layer names)."""
        halves = self.halves_radio.isChecked()
        if halves:
            names = (self.even_combo.current_name(), self.odd_combo.current_name())
        else:
            names = (self.tomogram_combo.current_name(),)
        tilt_range = None
        if self.wedge_check.isChecked():
            tilt_range = (self.tilt_min_box.value(), self.tilt_max_box.value())
        return DataSelection(
            mode="halves" if halves else "single",
            layers=tuple(n for n in names if n),
            tilt_range=tilt_range,
            tilt_axis=self.tilt_axis_combo.currentText(),  # type: ignore[arg-type]
            mask_layer=self.mask_combo.current_name(),
        )

    def set_single(self, name: str) -> None:
        """Use the image layer ``name`` as one tomogram."""
        self.tomogram_combo.set_current_name(name)
        self.single_radio.setChecked(True)
        self._on_change()

    def set_halves(self, even: str, odd: str) -> None:
        """Use the image layers ``even`` and ``odd`` as half tomograms."""
        self.even_combo.blockSignals(True)
        self.even_combo.set_current_name(even)
        self.even_combo.blockSignals(False)
        self.odd_combo.set_current_name(odd)
        self.halves_radio.setChecked(True)
        self._take_tilt_range_from_metadata()
        self._on_change()

    def set_tilt_range(
        self, tilt_min: float | None, tilt_max: float | None = None, tilt_axis: str = "Y"
    ) -> None:
        """Set the tilt range in degrees (``set_tilt_range(None)``: no wedge)."""
        if tilt_min is None:
            self.wedge_check.setChecked(False)
            return
        if tilt_max is None:
            raise InputError("give both tilt_min and tilt_max, e.g. set_tilt_range(-60, 60).")
        for box in (self.tilt_min_box, self.tilt_max_box):
            box.blockSignals(True)
        self.tilt_min_box.setValue(float(tilt_min))
        self.tilt_max_box.setValue(float(tilt_max))
        for box in (self.tilt_min_box, self.tilt_max_box):
            box.blockSignals(False)
        self.tilt_axis_combo.setCurrentText(str(tilt_axis).upper())
        self.wedge_check.setChecked(True)
        self._on_change()

    def set_mask(self, name: str | None) -> None:
        """Use the labels layer ``name`` as sampling mask (None: no mask)."""
        self.mask_combo.set_current_name(name)
        self._on_change()

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

    # -- internals ------------------------------------------------------------------------

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

    @guarded
    def _on_change(self, *args: Any) -> None:
        if self._building:
            return
        halves = self.halves_radio.isChecked()
        self.tomogram_combo.setEnabled(not halves)
        self.even_combo.setEnabled(halves)
        self.odd_combo.setEnabled(halves)
        wedge = self.wedge_check.isChecked()
        for box in (self.tilt_min_box, self.tilt_max_box, self.tilt_axis_combo):
            box.setEnabled(wedge)
        selection = self.selection
        self.session.selection = selection
        try:
            self._validate(selection)
        except InputError as exc:
            message = str(exc)
            self.summary_label.setText(f"⚠ {message}")
            combos = (self.tomogram_combo, self.even_combo, self.odd_combo, self.mask_combo)
            by_user = not any(combo.refreshing for combo in combos)  # not a layer-list update
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
            f"{selection.tilt_axis}"
            if selection.tilt_range
            else "no wedge"
        )
        mask = f", mask {selection.mask_layer!r}" if selection.mask_layer else ""
        return f"{what}: {shape} voxels of {size} Å; {wedge}{mask}."

    @guarded
    def _take_tilt_range_from_metadata(self, *args: Any) -> None:
        """Pre-fill the tilt range from layer metadata (the sample data carries it)."""
        if self._building:
            return
        combo = self.even_combo if self.halves_radio.isChecked() else self.tomogram_combo
        name = combo.current_name()
        if not name or name not in self.viewer.layers:
            return
        tilt_range = self.viewer.layers[name].metadata.get("tilt_range")
        if tilt_range is not None and len(tilt_range) == 2:
            self.set_tilt_range(
                float(tilt_range[0]), float(tilt_range[1]), self.tilt_axis_combo.currentText()
            )

    @guarded
    def _on_show_wedge_clicked(self) -> None:
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
        for combo in (self.tomogram_combo, self.even_combo, self.odd_combo, self.mask_combo):
            combo.disconnect_viewer()
        super().closeEvent(event)

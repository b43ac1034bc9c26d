"""The "Restore" dock widget: apply a trained model to the whole tomogram, tile by tile.

The result goes into a NEW layer ``'<source> restored (<method>)'`` on the source's grid
(scale, translate, units); the source layer is never changed. With even/odd input the
disagreement of the two restored halves can be added as a reliability map. With a data set
in "Data and wedge", every tomogram of it is restored in turn, each into its own layer.
Restoration runs in a napari thread worker and can be cancelled (button, or the progress
bar's cancel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...errors import InputError
from .layer_helpers import disagreement_name, restored_name
from .notify import describe_exception, guarded, notify_error, notify_info
from .progress_bar import DeferredProgress
from .restore_form import RestoreForm
from .shared_state import (
    DataSelection,
    InputSnapshot,
    effective_selection,
    session_for,
    snapshot_inputs,
    snapshot_tomograms,
)
from .workers import ProgressRelay, RunController, restore_each

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

MODEL_FILTER = "tomorestore model (*.ckpt *.pt);;All files (*)"
MRC_FILTER = "MRC (*.mrc *.rec *.map)"


@dataclass
class _Run:
    """One restoration run: its tomograms, model, progress and the layers it added."""

    run_id: int
    snapshots: list[InputSnapshot]
    model: Any
    current: int = 0
    layers: list[Any] = field(default_factory=list)
    failed: bool = False

    def name(self, index: int | None = None) -> str:
        """``'cell'`` or, for several tomograms, ``'cell' (2/3)``."""
        index = self.current if index is None else index
        source = repr(self.snapshots[index].source)
        count = len(self.snapshots)
        return f"{source} ({index + 1}/{count})" if count > 1 else source


class RestoreWidget(QWidget):
    """Restore the chosen tomogram (or even/odd pair), or each of a data set, with the model.

    Parameters
    ----------
    napari_viewer : napari.Viewer

    Attributes
    ----------
    worker : FunctionWorker or None
        The running restoration worker (None when idle).
    result_layer : Image or None
        The layer added by the last completed restoration (of a data set: its last
        tomogram's).
    result_layers : list of Image
        Every restored layer of the last run (one per tomogram of a data set).
    disagreement_layer : Image or None
        The even/odd disagreement layer of the last restoration (when asked for).

    Examples
    --------
    >>> dock, restore = viewer.window.add_plugin_dock_widget(  # doctest: +SKIP
    ...     "tomorestore", "Restore")
    >>> restore.start()  # doctest: +SKIP
    >>> qtbot.waitUntil(lambda: not restore.running, timeout=60_000)  # doctest: +SKIP
    >>> restore.save_result("restored.mrc")  # doctest: +SKIP
    """

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self.controller = RunController()
        self.result_layer: Image | None = None
        self.result_layers: list[Image] = []
        self.disagreement_layer: Image | None = None
        self._run: _Run | None = None
        self.progress = DeferredProgress(self, on_cancel=self.stop)
        self._build()
        self._connect()
        self._on_model_changed(self.session.model)
        self._refresh_data()

    # -- construction ---------------------------------------------------------------------

    def _build(self) -> None:
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.load_button = QPushButton("Load model…")
        self.form = RestoreForm()
        self.restore_button = QPushButton("Restore")
        self.cancel_button = QPushButton("Cancel")
        self.save_button = QPushButton("Save result as MRC…")
        self.status_label = QLabel("Idle.")
        self.status_label.setWordWrap(True)
        run_row = QHBoxLayout()
        run_row.addWidget(self.restore_button)
        run_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.model_label)
        layout.addWidget(self.load_button)
        layout.addWidget(self.data_label)
        layout.addWidget(self.form.native)
        layout.addLayout(run_row)
        layout.addWidget(self.save_button)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.load_button.clicked.connect(self._on_load_clicked)
        self.restore_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.session.model_changed.connect(self._on_model_changed)
        self.session.selection_changed.connect(self._refresh_data)
        self.form.whole_dataset.changed.connect(self._refresh_data)
        events = self.viewer.layers.events
        events.inserted.connect(self._refresh_data)
        events.removed.connect(self._refresh_data)
        self.viewer.layers.selection.events.active.connect(self._refresh_data)
        self.controller.stop_with(self)

    # -- public API -----------------------------------------------------------------------

    @property
    def worker(self) -> Any:
        """The running restoration worker, or None."""
        return self.controller.worker

    @property
    def running(self) -> bool:
        """True while a restoration runs (until its result has been handled)."""
        return self.controller.running

    @property
    def model(self) -> Any:
        """The model restorations use: the viewer's current (trained or loaded) model."""
        return self.session.model

    def set_parameters(self, **values: Any) -> None:
        """Set ``tile`` (None or 0: automatic), ``overlap``, ``device``, ``disagreement``.

        ``whole_dataset`` (default True) restores every tomogram of the data set made in
        "Data and wedge" (False: only the tomogram or pair chosen there).

        Raises
        ------
        InputError
            For an unknown name or a value out of range / not offered.
        """
        self.form.set_values(values)

    def load_model(self, path: str | Path) -> Any:
        """Load a model file and make it the viewer's current model (None on error)."""
        from ...training.restoration_model import RestorationModel

        try:
            model = RestorationModel.load(path)
        except Exception as exc:  # noqa: BLE001
            notify_error(f"Could not load the model: {describe_exception(exc)}")
            return None
        self.session.set_model(model, path)
        return model

    def start(self) -> bool:
        """Restore in a background thread; each result becomes a new layer.

        Returns
        -------
        bool
            True when a restoration started; False (with an error notification) otherwise.
        """
        if self.running:
            notify_error("A restoration is already running; cancel it first.")
            return False
        settings = self.form.values()
        try:
            model = self.session.model
            if model is None:
                raise InputError(
                    "There is no model: train one in the 'Train' panel or load a model file."
                )
            selection = effective_selection(self.viewer)
            snapshots, wedges = self._inputs(selection, whole=settings["whole_dataset"])
        except Exception as exc:  # noqa: BLE001 - any failure becomes a notification
            notify_error(describe_exception(exc))
            return False
        run_id, stop_event = self.controller.begin()
        from napari.qt.threading import create_worker

        self._run = run = _Run(run_id=run_id, snapshots=snapshots, model=model)
        relay = ProgressRelay(self)  # one per run: carries tile progress to this thread
        relay.progressed.connect(partial(self._on_progress, run_id))
        worker = create_worker(
            restore_each,
            model,
            [(snapshot.halves, wedge) for snapshot, wedge in zip(snapshots, wedges, strict=True)],
            tile=settings["tile"],
            overlap=settings["overlap"],
            device=settings["device"],
            disagreement=settings["disagreement"],
            progress=relay,
            stop_event=stop_event,
            _start_thread=False,
            _ignore_errors=True,  # errors become one notification in _on_error
        )
        worker.yielded.connect(partial(self._on_yielded, run))
        worker.errored.connect(partial(self._on_error, run))
        worker.finished.connect(partial(self._on_finished, run, relay))
        self.controller.attach(worker)
        self.progress.open(0, "Restoring")
        self.status_label.setText(f"Restoring {run.name(0)} with {model.method_name}…")
        self._update_buttons()
        worker.start()
        return True

    def stop(self) -> None:
        """Cancel the running restoration (its result is discarded)."""
        if self.running:
            self.controller.request_stop()
            self.status_label.setText("Cancelling…")

    def save_result(self, path: str | Path, layer: Image | None = None) -> Path | None:
        """Save the restored layer (default: the last result) as MRC with its voxel size."""
        layer = layer or self.result_layer
        if layer is None or layer not in self.viewer.layers:
            notify_error("There is no restored layer to save: press Restore first.")
            return None
        try:
            written = layer.save(str(path), plugin="tomorestore")
        except Exception as exc:  # noqa: BLE001
            notify_error(f"Could not save {layer.name!r}: {describe_exception(exc)}")
            return None
        if not written:
            notify_error(f"Nothing was written for {layer.name!r}; use a .mrc file name.")
            return None
        notify_info(f"Saved {layer.name!r} to {written[0]}")
        return Path(written[0])

    def save_results(self, directory: str | Path) -> list[Path]:
        """Save every restored layer of the last run (one per tomogram) as MRC files.

        Each goes to ``directory/<layer name>.mrc`` with characters other than letters,
        digits, ``.``, ``-`` and ``_`` replaced (``'t1 restored (n2v)'`` →
        ``t1_restored_n2v.mrc``), with its voxel size. An existing file is not overwritten
        (an error notification names it).

        Returns
        -------
        list of Path
            The files written.
        """
        layers = self._saveable_results()
        if not layers:
            notify_error("There is no restored layer to save: press Restore first.")
            return []
        folder = Path(directory)
        written = []
        for layer in layers:
            target = folder / f"{_file_stem(layer.name)}.mrc"
            if target.exists():
                notify_error(f"Not saving {layer.name!r}: {target} exists already.")
                continue
            path = self.save_result(target, layer)
            if path is not None:
                written.append(path)
        return written

    # -- handlers (GUI thread) ------------------------------------------------------------

    def _inputs(
        self, selection: DataSelection, *, whole: bool
    ) -> tuple[list[InputSnapshot], list[Any]]:
        """The tomograms to restore and their wedges (None: the model's)."""
        if not (whole and selection.dataset):
            return [snapshot_inputs(self.viewer, selection)], [None]
        from ...training.config import make_wedge

        snapshots = snapshot_tomograms(self.viewer, selection)
        wedges = [make_wedge(s.selection.tilt_range, s.selection.tilt_axis) for s in snapshots]
        return snapshots, wedges

    @guarded
    def _on_progress(self, run_id: int, done: int, total: int) -> None:
        run = self._run
        if run is None or run.run_id != run_id or not self._wanted(run_id):
            return
        self.progress.set(done, total)
        where = f" {run.name()}" if len(run.snapshots) > 1 else ""
        self.status_label.setText(f"Restoring{where}: tile {done}/{total}")

    def _wanted(self, run_id: int) -> bool:
        """True while ``run_id`` is the current run and was not cancelled."""
        return self.controller.is_current(run_id) and not self.controller.stop_event.is_set()

    @guarded
    def _on_yielded(self, run: _Run, item: tuple[int, dict | None]) -> None:
        if not self._wanted(run.run_id):
            return
        index, result = item
        if result is None:  # tomogram ``index`` starts
            run.current = index
            if len(run.snapshots) > 1:
                self.progress.describe(f"Restoring {run.name()}")
                self.status_label.setText(f"Restoring {run.name()}…")
            return
        self._add_result(run, run.snapshots[index], result)

    def _add_result(self, run: _Run, snapshot: InputSnapshot, result: dict) -> None:
        method = run.model.method_name
        metadata = {
            "tomorestore": {
                "method": method,
                "wedge": snapshot.selection.wedge,
                "model_path": self.session.model_path,
                "model_step": int(getattr(run.model, "step", 0)),
                "source": list(snapshot.selection.layers),
            }
        }
        self.result_layer = self.viewer.add_image(
            result["restored"],
            name=restored_name(snapshot.source, method),
            metadata=metadata,
            colormap="gray",
            **snapshot.geometry,
        )
        if not run.layers:  # the run's first result replaces the last run's list
            self.result_layers = []
        run.layers.append(self.result_layer)
        self.result_layers.append(self.result_layer)
        self.disagreement_layer = None
        if "disagreement" in result:
            self.disagreement_layer = self.viewer.add_image(
                result["disagreement"],
                name=disagreement_name(snapshot.source, method),
                metadata={"tomorestore": {**metadata["tomorestore"], "kind": "disagreement"}},
                colormap="inferno",
                visible=False,
                **snapshot.geometry,
            )

    @guarded
    def _on_error(self, run: _Run, exc: BaseException) -> None:
        if self.controller.is_current(run.run_id):
            run.failed = True
            where = f" of {run.name()}" if len(run.snapshots) > 1 else ""
            notify_error(f"Restoration{where} failed: {describe_exception(exc)}")
            self.status_label.setText(f"Failed: {describe_exception(exc)}")

    @guarded
    def _on_finished(self, run: _Run, relay: ProgressRelay) -> None:
        relay.deleteLater()
        if not self.controller.is_current(run.run_id):
            return
        self.controller.finished(run.run_id)
        self.progress.close()
        self._update_buttons()
        if not run.failed:
            self.status_label.setText(_outcome(run, cancelled=self.controller.stop_event.is_set()))

    @guarded
    def _on_model_changed(self, model: Any) -> None:
        if model is None:
            self.model_label.setText("Model: none. Train one in 'Train' or load a model file.")
        else:
            wedge = model.config.wedge
            wedge_text = f", tilt {wedge.tilt_min:g}° to {wedge.tilt_max:g}°" if wedge else ""
            where = f" ({Path(self.session.model_path).name})" if self.session.model_path else ""
            self.model_label.setText(
                f"Model: {model.method_name}, {_weights_text(model)}{wedge_text}{where}"
            )
        self._update_buttons()

    @guarded
    def _refresh_data(self, *args: Any) -> None:
        try:
            selection = effective_selection(self.viewer)
        except InputError as exc:
            self.data_label.setText(f"Input: {exc}")
            self.form.disagreement.enabled = False
            self.form.whole_dataset.enabled = False
        else:
            dataset = selection.dataset
            self.form.whole_dataset.enabled = bool(dataset)
            if dataset and self.form.whole_dataset.value:
                names = ", ".join(entry.source for entry in dataset)
                self.data_label.setText(f"Input: data set of {len(dataset)} ({names})")
                self.form.disagreement.enabled = dataset[0].has_halves
            else:
                self.data_label.setText(f"Input: {' + '.join(selection.layers) or 'none chosen'}")
                self.form.disagreement.enabled = selection.has_halves
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.running
        self.restore_button.setEnabled(not running and self.session.model is not None)
        self.cancel_button.setEnabled(running)
        self.load_button.setEnabled(not running)
        self.save_button.setEnabled(self.result_layer is not None)
        several = len(self.result_layers) > 1
        self.save_button.setText("Save results as MRC…" if several else "Save result as MRC…")

    @guarded
    def _on_load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", MODEL_FILTER)
        if path:
            self.load_model(path)

    def _saveable_results(self) -> list[Image]:
        """The last run's restored layers still in the viewer."""
        return [layer for layer in self.result_layers if layer in self.viewer.layers]

    @guarded
    def _on_save_clicked(self) -> None:
        if len(self._saveable_results()) > 1:
            folder = QFileDialog.getExistingDirectory(self, "Save restored tomograms in")
            if folder:
                self.save_results(folder)
            return
        default = f"{self.result_layer.name}.mrc" if self.result_layer is not None else ""
        path, _ = QFileDialog.getSaveFileName(self, "Save restored tomogram", default, MRC_FILTER)
        if path:
            self.save_result(path)

    # -- lifetime -------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:  # noqa: D102 - Qt override
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.controller.shutdown()  # removed from its dock
            self.progress.close()
        return super().event(event)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.controller.shutdown()
        self.progress.close()
        super().closeEvent(event)


def _weights_text(model: Any) -> str:
    """``"weights of step 200 (lowest validation loss)"`` or ``"250 steps"``."""
    if getattr(model, "best_step", None) is not None:
        return f"weights of step {model.best_step} (lowest validation loss)"
    return f"{model.step} steps"


def _file_stem(name: str) -> str:
    """A file name for a layer name: ``'t1 restored (n2v)'`` → ``'t1_restored_n2v'``."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "restored"


def _outcome(run: _Run, *, cancelled: bool) -> str:
    """The status line after a run: what was restored into which layers, or cancelled."""
    names = ", ".join(repr(layer.name) for layer in run.layers)
    if cancelled:
        if not run.layers:
            return "Cancelled."
        return f"Cancelled after {len(run.layers)} of {len(run.snapshots)}; kept {names}."
    if len(run.snapshots) == 1:
        return f"Restored into {names}."
    return f"Restored {len(run.layers)} tomograms into {names}."

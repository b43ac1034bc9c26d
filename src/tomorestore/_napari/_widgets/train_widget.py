"""The "Train" dock widget: train a restoration network without blocking napari.

The widget only collects settings and shows events: the training loop is the core's
generator :func:`tomorestore.training.train_events`, run in a napari generator worker
with an immutable ``TrainConfig`` and numpy copies of the layers (of every tomogram of the
data set, when "Data and wedge" holds one: one model trains on all of them). Stop sets the event the
engine polls (it checkpoints and finishes cleanly); closing the widget or the viewer also
aborts the worker.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ...errors import InputError
from .layer_helpers import preview_name, show_image
from .loss_plot import LossPlot
from .method_choice import method_classes, method_problem
from .notify import describe_exception, guarded, notify_error, notify_info
from .progress_bar import DeferredProgress
from .shared_state import (
    DataSelection,
    InputSnapshot,
    effective_selection,
    session_for,
    snapshot_tomograms,
    training_input,
)
from .train_form import TrainForm
from .workers import RunController, training_events

if TYPE_CHECKING:
    import napari

STOP_GRACE_MS = 120_000
"""After Stop, the worker is aborted if the engine has not finished within this time."""

MODEL_FILTER = "tomorestore model (*.ckpt *.pt);;All files (*)"


class TrainWidget(QWidget):
    """Train any registered method on the data chosen in "Data and wedge".

    The settings are magicgui forms generated from the core's configuration models
    (:class:`~.train_form.TrainForm`): method, steps and device, and under *Advanced* the
    run settings, the network's depth and channels and the method's own parameters.

    Parameters
    ----------
    napari_viewer : napari.Viewer

    Attributes
    ----------
    form : TrainForm
        The settings forms (``form.main``, ``form.training``, ``form.network``,
        ``form.params``).
    worker : GeneratorWorker or None
        The running training worker (None when idle).
    model : RestorationModel or None
        The last trained or loaded model (also shared with "Restore").
    events : list
        Events of the current/last run, in order (for scripts and tests).

    Examples
    --------
    >>> dock, train = viewer.window.add_plugin_dock_widget("tomorestore", "Train")  # doctest: +SKIP
    >>> train.set_parameters(method="n2v", steps=20, device="cpu")  # doctest: +SKIP
    >>> train.start()  # doctest: +SKIP
    >>> qtbot.waitUntil(lambda: not train.running, timeout=120_000)  # doctest: +SKIP
    >>> train.save_model("my_model.ckpt")  # doctest: +SKIP
    """

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self.controller = RunController()
        self.model: Any = None
        self.events: list[Any] = []
        self._snapshot: InputSnapshot | None = None
        self._start_step = 0
        self.progress = DeferredProgress(self, on_cancel=self.stop)
        self._checkpoint_dir = tempfile.TemporaryDirectory(prefix="tomorestore-train-")
        self._loaded_path: str | None = None
        self._build_controls()
        self._build_layout()
        self._connect()
        self._refresh_data()
        self._update_buttons()

    # -- construction ---------------------------------------------------------------------

    def _build_controls(self) -> None:
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.form = TrainForm()
        method_combo = self.form.main.method.native  # long labels: do not widen the dock
        method_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        method_combo.setMinimumContentsLength(24)
        self.continue_check = QCheckBox("Continue from the loaded model (fine-tune)")
        self.continue_check.setEnabled(False)
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.save_button = QPushButton("Save model…")
        self.load_button = QPushButton("Load model…")
        self.loss_plot = LossPlot()
        self.notes_label = QLabel()  # what the engine chose for the data (Started.notes)
        self.notes_label.setWordWrap(True)
        self.notes_label.hide()
        self.status_label = QLabel("Idle.")
        self.status_label.setWordWrap(True)
        self.continue_check.setToolTip(
            "Train the loaded (or last trained) model further on the chosen data: the steps "
            "are added to the ones it has; method, network and parameters stay its own."
        )
        self.stop_button.setToolTip("Stop after the current step; the model so far is kept.")

    def _build_layout(self) -> None:
        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(self.form.advanced.native)
        run_row = QHBoxLayout()
        run_row.addWidget(self.train_button)
        run_row.addWidget(self.stop_button)
        model_row = QHBoxLayout()
        model_row.addWidget(self.save_button)
        model_row.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.data_label)
        layout.addWidget(self.form.main.native)
        layout.addWidget(self.advanced)
        layout.addWidget(self.continue_check)
        layout.addLayout(run_row)
        layout.addLayout(model_row)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.notes_label)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.train_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.load_button.clicked.connect(self._on_load_clicked)
        self.session.selection_changed.connect(self._refresh_data)
        self.session.model_changed.connect(self._on_model_changed)
        events = self.viewer.layers.events
        events.inserted.connect(self._refresh_data)
        events.removed.connect(self._refresh_data)
        events.changed.connect(self._refresh_data)
        self.viewer.layers.selection.events.active.connect(self._refresh_data)
        self.controller.stop_with(self)

    # -- public API -----------------------------------------------------------------------

    @property
    def worker(self) -> Any:
        """The running training worker (a napari ``GeneratorWorker``), or None."""
        return self.controller.worker

    @property
    def running(self) -> bool:
        """True while training runs (until its last event has been handled)."""
        return self.controller.running

    @property
    def method(self) -> str:
        """The chosen method name."""
        return self.form.method

    def method_usable(self) -> dict[str, bool]:
        """Method name → whether it can run on the chosen data (enabled in the list)."""
        native = self.form.main.method.native
        return {
            native.itemData(i): native.model().item(i).isEnabled() for i in range(native.count())
        }

    def set_parameters(self, **values: Any) -> None:
        """Set controls from Python.

        Parameters
        ----------
        **values
            ``method`` (set first: it fills the method's default budget and parameters),
            any ``TrainConfig`` field of the form (``steps``, ``device``, ``batch_size``,
            ``patch_size``, ``learning_rate``, ``validate_every``, ``preview_every`` (0:
            never), ``seed``, ``fast``), ``depth`` and ``base_channels`` (None or 0:
            automatic), the chosen method's parameters by name (e.g. ``wedge_weight`` for
            dewedge) or as ``params={...}``, and ``continue_training``.

        Raises
        ------
        InputError
            For an unknown name or a value out of range.
        """
        if "continue_training" in values:
            self.continue_check.setChecked(bool(values.pop("continue_training")))
        self.form.set_values(values)

    def config(self, selection: DataSelection | None = None) -> Any:
        """The ``TrainConfig`` the controls describe (for ``selection``'s wedge).

        Raises
        ------
        InputError
            When no data is chosen or the values do not form a valid configuration.
        """
        from ...training.config import make_wedge

        selection = selection or effective_selection(self.viewer)
        extra_steps = 0
        if self.continue_check.isChecked() and self.model is not None:
            # fine-tune: this many steps more than where the run resumes (the last state
            # beside the model file, when there is one)
            path = self.session.model_path or self._loaded_path
            if path is not None and Path(path).exists():
                from ...training.checkpoint import resume_start_step

                extra_steps = resume_start_step(path)
            else:
                extra_steps = int(self.model.step)
        first = selection.tomograms[0]  # a data set's tomograms each bring their own wedge
        return self.form.config(
            wedge=make_wedge(first.tilt_range, first.tilt_axis),
            extra_steps=extra_steps,
        )

    def start(self) -> bool:
        """Start training in a background thread.

        Returns
        -------
        bool
            True when a run started; False (with an error notification) otherwise.
        """
        if self.running:
            notify_error("Training is already running; press Stop first.")
            return False
        try:
            selection = effective_selection(self.viewer)
            problem = method_problem(self.form.method_cls, selection)
            if problem:
                raise InputError(problem)
            config = self.config(selection)
            snapshots = snapshot_tomograms(self.viewer, selection)
            halves, mask = training_input(snapshots)
            resume_from = self._resume_path()
        except Exception as exc:  # noqa: BLE001 - any failure becomes a notification
            notify_error(describe_exception(exc))
            return False
        run_id, stop_event = self.controller.begin()
        snapshot = snapshots[0]  # the preview shows the first tomogram
        self._snapshot = snapshot
        self.events = []
        self.loss_plot.clear(config.steps)
        self.notes_label.hide()
        checkpoint = Path(self._checkpoint_dir.name) / f"{snapshot.source}-{self.method}.ckpt"
        from napari.qt.threading import create_worker

        worker = create_worker(
            training_events,
            config,
            halves,
            mask=mask,
            voxel_size=snapshot.voxel_size,
            checkpoint_path=str(checkpoint),
            resume_from=resume_from,
            stop_event=stop_event,
            _start_thread=False,
            _ignore_errors=True,  # errors become one notification in _on_error
        )
        worker.yielded.connect(partial(self._on_event, run_id))
        worker.errored.connect(partial(self._on_error, run_id))
        worker.finished.connect(partial(self._on_finished, run_id))
        self.controller.attach(worker)
        self.progress.open(int(config.steps), f"Training {self.method}")
        what = (
            f"{len(snapshots)} tomograms ({', '.join(repr(s.source) for s in snapshots)})"
            if len(snapshots) > 1
            else repr(snapshot.source)
        )
        self.status_label.setText(f"Starting {self.method} on {what}…")
        self._update_buttons()
        worker.start()
        return True

    def stop(self) -> None:
        """Stop training after the current step; the model so far is kept and checkpointed."""
        if not self.running:
            return
        self.controller.request_stop()
        self.status_label.setText("Stopping after the current step…")
        run_id, worker = self.controller.run_id, self.controller.worker

        def abort_if_stuck() -> None:
            if self.controller.is_current(run_id) and self.controller.worker is worker:
                worker.quit()

        QTimer.singleShot(STOP_GRACE_MS, abort_if_stuck)

    def save_model(self, path: str | Path) -> Path | None:
        """Save the current model as a checkpoint file; returns the path (None on error).

        The weights to restore with go to ``path``; the run's last state (with the
        optimiser), when there is one, goes beside it (``model.last.ckpt``), so that
        "Continue" after loading the saved file resumes the same run.
        """
        from ...training.checkpoint import copy_last_state

        if self.model is None:
            notify_error("There is no model to save yet: train one or load one first.")
            return None
        source = self.session.model_path or self._loaded_path
        try:
            saved = Path(self.model.save(path))
            if source is not None:
                copy_last_state(source, saved)
        except Exception as exc:  # noqa: BLE001
            notify_error(f"Could not save the model: {describe_exception(exc)}")
            return None
        self.session.set_model(self.model, saved)
        notify_info(f"Model saved to {saved}")
        return saved

    def load_model(self, path: str | Path) -> Any:
        """Load a model file (to restore with, or to continue training); None on error."""
        from ...training.restoration_model import RestorationModel

        try:
            model = RestorationModel.load(path)
        except Exception as exc:  # noqa: BLE001
            notify_error(f"Could not load the model: {describe_exception(exc)}")
            return None
        self._loaded_path = str(path)
        self.session.set_model(model, path)
        return model

    # -- event handling (GUI thread) ------------------------------------------------------

    @guarded
    def _on_event(self, run_id: int, event: Any) -> None:
        if not self.controller.is_current(run_id):
            return  # a superseded or aborted run
        from ...training import events as ev

        self.events.append(event)
        if isinstance(event, ev.Started):
            self._start_step = event.start_step
            self.progress.set(0, event.total_steps - event.start_step)
            self.progress.describe(f"Training {self.method} on {event.device}")
            notes = "; ".join(event.notes)
            self.notes_label.setText(f"{notes[:1].upper()}{notes[1:]}.")
            self.notes_label.setVisible(bool(event.notes))
        elif isinstance(event, ev.Step):
            self.loss_plot.add_loss(event.step, event.loss)
            self.progress.set(event.step - self._start_step)
            self.status_label.setText(
                f"{self.method}: step {event.step}/{event.total_steps}, loss {event.loss:.4g}"
            )
        elif isinstance(event, ev.Validated):
            self.loss_plot.add_validation(event.step, event.val_loss)
        elif isinstance(event, ev.Preview):
            self._show_preview(event.image)
        elif isinstance(event, ev.Finished):
            self.model = event.model
            path = None if event.checkpoint_path is None else str(event.checkpoint_path)
            self._loaded_path = path
            self.session.set_model(event.model, path)
            how = "stopped" if event.stopped else "finished"
            self.status_label.setText(f"{self.method} {how} at step {event.step}.")

    def _show_preview(self, image: Any) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        geometry = snapshot.geometry
        layer = show_image(
            self.viewer,
            preview_name(snapshot.source),
            image,
            scale=tuple(geometry["scale"])[1:],
            translate=tuple(geometry["translate"])[1:],
            units=tuple(geometry["units"])[1:],
            colormap="gray",
        )
        layer.reset_contrast_limits()

    @guarded
    def _on_error(self, run_id: int, exc: BaseException) -> None:
        if self.controller.is_current(run_id):
            notify_error(f"Training failed: {describe_exception(exc)}")
            self.status_label.setText(f"Failed: {describe_exception(exc)}")

    @guarded
    def _on_finished(self, run_id: int) -> None:
        if not self.controller.is_current(run_id):
            return
        self.controller.finished(run_id)
        self.progress.close()
        self._update_buttons()

    # -- state ----------------------------------------------------------------------------

    def _resume_path(self) -> str | None:
        if not self.continue_check.isChecked():
            return None
        if self.model is None:
            raise InputError(
                "Load or train a model before ticking 'Continue from the loaded model'."
            )
        path = self.session.model_path or self._loaded_path
        if path is None or not Path(path).exists():
            raise InputError("The model has no checkpoint file to continue from; save it first.")
        return path

    @guarded
    def _on_model_changed(self, model: Any) -> None:
        self.model = model
        if model is not None and not self.running and model.method_name in method_classes():
            if model.method_name != self.method:
                self.form.set_method(model.method_name)
            self.form.set_values({"params": model.config.params})  # show the model's own
        self._update_buttons()

    @guarded
    def _refresh_data(self, *args: Any) -> None:
        try:
            selection = effective_selection(self.viewer)
        except InputError as exc:
            self.data_label.setText(f"Data: {exc}")
            selection = None
        else:
            self.data_label.setText(f"Data: {_describe_data(selection)}")
        self._mark_usable_methods(selection)

    def _mark_usable_methods(self, selection: DataSelection | None) -> None:
        """Disable the methods that cannot run on ``selection`` (tooltip: why, what to do)."""
        combo = self.form.main.method
        combo.reset_choices()  # methods registered since the last time
        native = combo.native
        classes = method_classes()
        first_usable = None
        for index in range(native.count()):
            cls = classes.get(native.itemData(index))
            if cls is None:
                continue
            problem = method_problem(cls, selection) if selection else None
            item = native.model().item(index)
            item.setEnabled(problem is None)
            item.setToolTip(problem or cls.title)
            if problem is None and first_usable is None:
                first_usable = index
        current = native.model().item(native.currentIndex())
        if current is not None and not current.isEnabled() and first_usable is not None:
            self.form.set_method(native.itemData(first_usable))

    def _update_buttons(self) -> None:
        running = self.running
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.save_button.setEnabled(self.model is not None and not running)
        self.load_button.setEnabled(not running)
        self.continue_check.setEnabled(self.model is not None and not running)

    @guarded
    def _on_save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model", "model.ckpt", MODEL_FILTER)
        if path:
            self.save_model(path)

    @guarded
    def _on_load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", MODEL_FILTER)
        if path:
            self.load_model(path)

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


def _describe_data(selection: DataSelection) -> str:
    """``"cell even + cell odd, tilt -60° to 60° about Y"``, or the data set's size."""
    entries = selection.tomograms
    if len(entries) > 1:
        names = ", ".join(entry.source for entry in entries)
        return f"data set of {len(entries)} tomograms ({names}), one model for all"
    entry = entries[0]
    wedge = (
        f", tilt {entry.tilt_range[0]:g}° to {entry.tilt_range[1]:g}° about {entry.tilt_axis}"
        if entry.tilt_range
        else ", no wedge"
    )
    return f"{' + '.join(entry.layers)}{wedge}"

"""The "Train" dock widget: train a restoration network without blocking napari.

The widget only collects settings and shows events: the training loop is the core's
generator :func:`tomorestore.training.train_events`, run in a napari generator worker
with an immutable ``TrainConfig`` and numpy copies of the layers. Stop sets the event the
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
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ...errors import InputError
from .layer_helpers import preview_name, show_image
from .loss_plot import LossPlot
from .method_choice import METHOD_LABELS, device_choices, method_classes, method_problem
from .notify import describe_exception, guarded, notify_error, notify_info
from .progress_bar import DeferredProgress
from .shared_state import (
    DataSelection,
    InputSnapshot,
    effective_selection,
    session_for,
    snapshot_inputs,
)
from .workers import RunController, training_events

if TYPE_CHECKING:
    import napari

STOP_GRACE_MS = 120_000
"""After Stop, the worker is aborted if the engine has not finished within this time."""

MODEL_FILTER = "tomorestore model (*.ckpt *.pt);;All files (*)"


def _spin(low: int, high: int, value: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    return box


class TrainWidget(QWidget):
    """Train n2v / n2n / dewedge / ei on the data chosen in "Data and wedge".

    Parameters
    ----------
    napari_viewer : napari.Viewer

    Attributes
    ----------
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
        self._on_method_changed()
        self._refresh_data()
        self._update_buttons()

    # -- construction ---------------------------------------------------------------------

    def _build_controls(self) -> None:
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.method_combo = QComboBox()
        for name in method_classes():
            self.method_combo.addItem(METHOD_LABELS.get(name, name), name)
        self.steps_box = _spin(1, 1_000_000, 200, 50)
        self.device_combo = QComboBox()
        self.device_combo.addItems(device_choices())
        self.batch_box = _spin(1, 512, 4)
        self.patch_box = _spin(8, 512, 32, 8)
        self.lr_box = QDoubleSpinBox()
        self.lr_box.setDecimals(6)
        self.lr_box.setRange(1e-6, 1.0)
        self.lr_box.setSingleStep(1e-4)
        self.depth_box = _spin(1, 5, 3)
        self.channels_box = _spin(0, 256, 0, 4)
        self.channels_box.setSpecialValueText("auto (16 CPU, 32 GPU)")
        self.preview_box = _spin(0, 1_000_000, 50, 10)
        self.preview_box.setSpecialValueText("never")
        self.validate_box = _spin(1, 1_000_000, 25, 5)
        self.seed_box = _spin(0, 2**31 - 1, 0)
        self.fast_check = QCheckBox("bf16 autocast + channels_last (faster)")
        self.fast_check.setChecked(True)
        self.continue_check = QCheckBox("Continue from the loaded model (fine-tune)")
        self.continue_check.setEnabled(False)
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.save_button = QPushButton("Save model…")
        self.load_button = QPushButton("Load model…")
        self.loss_plot = LossPlot()
        self.status_label = QLabel("Idle.")
        self.status_label.setWordWrap(True)
        self.steps_box.setToolTip("Optimiser steps (the method's default budget is pre-filled).")
        self.device_combo.setToolTip("Compute device: auto picks the first GPU, else the CPU.")
        self.patch_box.setToolTip("Edge of the cubic training sub-tomograms, voxels.")
        self.channels_box.setToolTip("Feature maps at the top U-Net level (0: automatic).")
        self.preview_box.setToolTip(
            "Every N steps, write the preview slice into '<source> preview'."
        )
        self.stop_button.setToolTip("Stop after the current step; the model so far is kept.")

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow(self.data_label)
        form.addRow("Method", self.method_combo)
        form.addRow("Steps", self.steps_box)
        form.addRow("Device", self.device_combo)
        self.advanced = QCollapsible("Advanced")
        advanced_body = QWidget()
        advanced_form = QFormLayout(advanced_body)
        advanced_form.addRow("Batch size", self.batch_box)
        advanced_form.addRow("Patch size", self.patch_box)
        advanced_form.addRow("Learning rate", self.lr_box)
        advanced_form.addRow("Network depth", self.depth_box)
        advanced_form.addRow("Base channels", self.channels_box)
        advanced_form.addRow("Preview every", self.preview_box)
        advanced_form.addRow("Validate every", self.validate_box)
        advanced_form.addRow("Seed", self.seed_box)
        advanced_form.addRow(self.fast_check)
        self.advanced.addWidget(advanced_body)
        run_row = QHBoxLayout()
        run_row.addWidget(self.train_button)
        run_row.addWidget(self.stop_button)
        model_row = QHBoxLayout()
        model_row.addWidget(self.save_button)
        model_row.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.continue_check)
        layout.addLayout(run_row)
        layout.addLayout(model_row)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
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
        return str(self.method_combo.currentData())

    def set_parameters(self, **values: Any) -> None:
        """Set controls from Python.

        Parameters
        ----------
        **values
            Any of ``method``, ``steps``, ``batch_size``, ``patch_size``, ``learning_rate``,
            ``depth``, ``base_channels`` (0: automatic), ``preview_every`` (0: never),
            ``validate_every``, ``seed``, ``fast``, ``device``, ``continue_training``.
        """
        if "method" in values:
            index = self.method_combo.findData(values.pop("method"))
            if index < 0:
                raise InputError(f"unknown method; choose one of {list(method_classes())}.")
            self.method_combo.setCurrentIndex(index)
        boxes = {
            "steps": self.steps_box,
            "batch_size": self.batch_box,
            "patch_size": self.patch_box,
            "learning_rate": self.lr_box,
            "depth": self.depth_box,
            "base_channels": self.channels_box,
            "preview_every": self.preview_box,
            "validate_every": self.validate_box,
            "seed": self.seed_box,
        }
        for key, value in values.items():
            if key in boxes:
                boxes[key].setValue(value)
            elif key == "fast":
                self.fast_check.setChecked(bool(value))
            elif key == "continue_training":
                self.continue_check.setChecked(bool(value))
            elif key == "device":
                choices = [self.device_combo.itemText(i) for i in range(self.device_combo.count())]
                if str(value) not in choices:
                    raise InputError(f"device {value!r} is not available; use one of {choices}.")
                self.device_combo.setCurrentText(str(value))
            else:
                raise InputError(f"unknown parameter {key!r}.")

    def config(self, selection: DataSelection | None = None) -> Any:
        """The ``TrainConfig`` the controls describe (for ``selection``'s wedge)."""
        from ...models.config import NetworkConfig
        from ...training.config import make_config, make_wedge

        selection = selection or effective_selection(self.viewer)
        cls = method_classes()[self.method]
        network = None
        if self.channels_box.value() or self.depth_box.value() != 3:
            base = self.channels_box.value() or (
                16 if self.device_combo.currentText() == "cpu" else 32
            )
            network = NetworkConfig(
                depth=self.depth_box.value(),
                base_channels=base,
                n2v2=bool(getattr(cls, "n2v2_network", False)),
            )
        steps = self.steps_box.value()
        if self.continue_check.isChecked() and self.model is not None:
            steps += int(self.model.step)  # fine-tune: this many steps more
        return make_config(
            method=self.method,
            steps=steps,
            batch_size=self.batch_box.value(),
            patch_size=self.patch_box.value(),
            learning_rate=self.lr_box.value(),
            validate_every=self.validate_box.value(),
            preview_every=self.preview_box.value(),
            seed=self.seed_box.value(),
            device=self.device_combo.currentText(),
            fast=self.fast_check.isChecked(),
            network=network,
            wedge=make_wedge(selection.tilt_range),
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
            problem = method_problem(method_classes()[self.method], selection)
            if problem:
                raise InputError(problem)
            config = self.config(selection)
            snapshot = snapshot_inputs(self.viewer, selection)
            resume_from = self._resume_path()
        except Exception as exc:  # noqa: BLE001 - any failure becomes a notification
            notify_error(describe_exception(exc))
            return False
        run_id, stop_event = self.controller.begin()
        self._snapshot = snapshot
        self.events = []
        self.loss_plot.clear(config.steps)
        checkpoint = Path(self._checkpoint_dir.name) / f"{snapshot.source}-{self.method}.ckpt"
        from napari.qt.threading import create_worker

        worker = create_worker(
            training_events,
            config,
            snapshot.halves,
            mask=snapshot.mask,
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
        self.status_label.setText(f"Starting {self.method} on {snapshot.source!r}…")
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
        """Save the current model as a checkpoint file; returns the path (None on error)."""
        if self.model is None:
            notify_error("There is no model to save yet: train one or load one first.")
            return None
        try:
            saved = Path(self.model.save(path))
        except Exception as exc:  # noqa: BLE001
            notify_error(f"Could not save the model: {describe_exception(exc)}")
            return None
        self.session.set_model(self.model, saved)
        notify_info(f"Model saved to {saved}")
        return saved

    def load_model(self, path: str | Path) -> Any:
        """Load a model file (to restore with, or to continue training); None on error."""
        from ...training.bundle import RestorationModel

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
            snapshot.to_layer_frame(image),
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
        if model is not None and not self.running:
            index = self.method_combo.findData(model.method_name)
            if index >= 0 and index != self.method_combo.currentIndex():
                self.method_combo.setCurrentIndex(index)
        self._update_buttons()

    @guarded
    def _on_method_changed(self, *args: Any) -> None:
        cls = method_classes().get(self.method)
        if cls is None:
            return
        self.steps_box.setValue(int(cls.default_steps))
        self.batch_box.setValue(int(cls.default_batch_size))
        self.patch_box.setValue(int(cls.default_patch_size))
        self.lr_box.setValue(float(cls.default_learning_rate))
        self._update_buttons()

    @guarded
    def _refresh_data(self, *args: Any) -> None:
        try:
            selection = effective_selection(self.viewer)
        except InputError as exc:
            self.data_label.setText(f"Data: {exc}")
            selection = None
        else:
            wedge = (
                f", tilt {selection.tilt_range[0]:g}° to {selection.tilt_range[1]:g}°"
                if selection.tilt_range
                else ", no wedge"
            )
            self.data_label.setText(f"Data: {' + '.join(selection.layers)}{wedge}")
        model = self.method_combo.model()
        first_valid = None
        for index, cls in enumerate(method_classes().values()):
            problem = method_problem(cls, selection) if selection else None
            item = model.item(index)
            item.setEnabled(problem is None)
            item.setToolTip(problem or (cls.__doc__ or "").strip().split("\n")[0])
            if problem is None and first_valid is None:
                first_valid = index
        current = model.item(self.method_combo.currentIndex())
        if current is not None and not current.isEnabled() and first_valid is not None:
            self.method_combo.setCurrentIndex(first_valid)

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

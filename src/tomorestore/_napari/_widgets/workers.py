"""Background work for the widgets: napari thread workers around the core.

Only immutable configs and numpy arrays cross into the worker thread. Each run gets a
:class:`RunController` slot with an id; results of a cancelled or superseded run are
ignored by the widget (``controller.is_current(run_id)``). Stopping first asks the core to
stop cleanly (a ``threading.Event`` passed as ``should_stop``), then, when the widget or
viewer goes away, aborts the worker at its next yield (``worker.quit()``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QApplication, QWidget

from ...errors import Cancelled


class ProgressRelay(QObject):
    """Carries ``(done, total)`` from a worker thread to the GUI thread (queued signal)."""

    progressed = Signal(int, int)

    def __call__(self, done: int, total: int) -> None:
        """Emit the progress (callable from any thread)."""
        self.progressed.emit(int(done), int(total))


def training_events(
    config: Any,
    halves: list[Any],
    *,
    mask: np.ndarray | None,
    voxel_size: tuple[float, float, float],
    checkpoint_path: str | None,
    resume_from: str | None,
    stop_event: threading.Event,
) -> Iterator[Any]:
    """Run the core training generator, yielding its events (runs in the worker thread).

    ``halves`` is ``[tomogram]``, ``[even, odd]`` or a data set: a list of the core's
    ``Tomogram`` (numpy arrays inside, nothing of napari).
    """
    from ...training.engine import train_events

    yield from train_events(
        config,
        halves,
        mask=mask,
        voxel_size=voxel_size,
        checkpoint_path=checkpoint_path,
        resume_from=resume_from,
        should_stop=stop_event.is_set,
    )


def restore_arrays(
    model: Any,
    halves: list[np.ndarray],
    *,
    tile: int | None,
    overlap: float,
    device: str,
    disagreement: bool,
    progress: Callable[[int, int], None],
    stop_event: threading.Event,
    wedge: Any = None,
) -> dict[str, np.ndarray] | None:
    """Restore a tomogram (or an even/odd pair) with ``model`` (runs in the worker thread).

    Both results come from the core's one prediction path
    (``RestorationModel.restore_parts``): the halves share one normalisation and are
    combined the way the model's method combines them. ``wedge`` (a ``WedgeConfig``) is the
    tomogram's own tilt range when it differs from the model's (None: the model's).

    Returns
    -------
    dict or None
        ``{"restored": array}`` plus ``"disagreement"`` (|f(even) - f(odd)|, in the
        input's units) when asked and two halves are given; None when cancelled.
    """
    kwargs: dict[str, Any] = {
        "tile": tile,
        "overlap": overlap,
        "device": device,
        "progress": progress,
        "should_stop": stop_event.is_set,
        "wedge": wedge,
    }
    try:
        if disagreement and len(halves) == 2:
            restored, parts = model.restore_parts(list(halves), **kwargs)
            return {"restored": restored, "disagreement": np.abs(parts[0] - parts[1])}
        return {"restored": model.restore(list(halves), **kwargs)}
    except Cancelled:
        return None


def restore_each(
    model: Any,
    jobs: list[tuple[list[np.ndarray], Any]],
    **settings: Any,
) -> Iterator[tuple[int, dict[str, np.ndarray] | None]]:
    """Restore several tomograms one after the other (runs in the worker thread).

    Parameters
    ----------
    model : RestorationModel
    jobs : list of (halves, wedge)
        Each tomogram's ``[volume]`` or ``[even, odd]`` and its ``WedgeConfig`` (or None).
    **settings
        The keyword arguments of :func:`restore_arrays` (tile, overlap, device,
        disagreement, progress, stop_event).

    Yields
    ------
    (int, dict or None)
        ``(index, None)`` when tomogram ``index`` starts, ``(index, result)`` when it is
        restored (``result`` as :func:`restore_arrays` returns). A cancel ends the
        generator without a result for the tomogram in progress.
    """
    for index, (halves, wedge) in enumerate(jobs):
        if settings["stop_event"].is_set():
            return
        yield index, None
        result = restore_arrays(model, halves, wedge=wedge, **settings)
        if result is None:
            return
        yield index, result


class RunController:
    """Owns at most one worker at a time, with a run id, a stop event and a clean shutdown.

    Plain Python (not a QObject): it outlives the widget's C++ side, so it can be
    connected to ``destroyed`` signals and still stop its worker.
    """

    def __init__(self) -> None:
        self.run_id = 0
        self.worker: Any = None
        self.stop_event = threading.Event()

    @property
    def running(self) -> bool:
        """True while a worker of the current run has not finished."""
        return self.worker is not None

    def begin(self) -> tuple[int, threading.Event]:
        """Start a new run: supersede any previous one; return its id and stop event."""
        self.shutdown(wait=False)
        self.run_id += 1
        self.stop_event = threading.Event()
        return self.run_id, self.stop_event

    def attach(self, worker: Any) -> None:
        """Remember the current run's worker (cleared by :meth:`finished`)."""
        self.worker = worker

    def is_current(self, run_id: int) -> bool:
        """True when ``run_id`` is the latest run (its results are wanted)."""
        return run_id == self.run_id

    def finished(self, run_id: int) -> None:
        """Forget the worker of ``run_id`` once it has ended."""
        if self.is_current(run_id):
            self.worker = None

    def stop_with(self, widget: QWidget) -> None:
        """Shut down when ``widget`` is deleted (also with its viewer window) or the app quits."""
        widget.destroyed.connect(lambda *_: self.shutdown())
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def request_stop(self) -> None:
        """Ask the core to stop cleanly at the next step or tile batch."""
        self.stop_event.set()

    def shutdown(self, *, wait: bool = True, timeout: float = 10.0) -> None:
        """Stop the current run and ignore its results; optionally wait for the thread."""
        worker = self.worker
        self.stop_event.set()
        self.run_id += 1  # whatever the old run still emits is now superseded
        self.worker = None
        if worker is None:
            return
        try:
            worker.quit()
        except RuntimeError:  # the worker's QObject is already deleted
            return
        if wait:
            _wait_for(worker, timeout)


def _wait_for(worker: Any, timeout: float) -> None:
    """Wait (blocking, without processing events) until ``worker``'s thread has ended.

    A worker queued but not yet started is not waited for: its stop event is set, so it
    ends at once when the thread pool starts it.
    """
    from superqt.utils._qthreading import WorkerBase

    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline and worker in WorkerBase._worker_set:
        try:
            running = worker.is_running
        except RuntimeError:  # deleted C++ object: its thread is gone
            return
        if running:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 0.5:
            return
        time.sleep(0.02)

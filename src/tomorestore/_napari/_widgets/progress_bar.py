"""napari's cancelable progress bar, updated outside of signal handlers.

napari's Qt progress bar calls ``QApplication.processEvents()`` whenever it is created or
changes value. Updating it inside a handler of worker signals would therefore run the next
queued handlers in the middle of the current one (re-entrance: out-of-order events, a bar
closed while it is being updated). Here updates only record the target; a zero-delay
timer applies it from the event loop's top level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, QTimer


class DeferredProgress:
    """A ``napari.utils.cancelable_progress`` driven by :meth:`set` (any time, GUI thread).

    Parameters
    ----------
    parent : QObject
        Owner of the update timer.
    on_cancel : callable
        Called once when the user presses the bar's cancel button.
    """

    def __init__(self, parent: QObject, on_cancel: Callable[[], None]) -> None:
        self._on_cancel = on_cancel
        self._bar: Any = None
        self._target: tuple[int, int | None] | None = None
        self._description: str | None = None
        self._cancel_reported = False
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._apply)

    @property
    def bar(self) -> Any:
        """The napari progress object (None when closed)."""
        return self._bar

    def open(self, total: int, description: str) -> None:
        """Show a new bar. Call it before starting the worker (creating it runs events)."""
        from napari.utils import cancelable_progress

        self.close()
        self._cancel_reported = False
        self._bar = cancelable_progress(total=max(0, int(total)), desc=description)

    def set(self, done: int, total: int | None = None) -> None:
        """Ask for ``done`` of ``total`` (None: keep the total); applied from the event loop."""
        self._target = (int(done), None if total is None else int(total))
        self._timer.start()

    def describe(self, description: str) -> None:
        """Change the bar's label (applied from the event loop)."""
        self._description = description
        self._timer.start()

    def close(self) -> None:
        """Remove the bar (idempotent)."""
        try:
            self._timer.stop()
        except RuntimeError:  # the timer's owner is already deleted
            pass
        bar, self._bar, self._target, self._description = self._bar, None, None, None
        if bar is not None:
            bar.close()

    def _apply(self) -> None:
        try:
            self._apply_to_bar()
        except Exception:  # noqa: BLE001 - a display glitch must not break a run
            logging.getLogger(__name__).debug("progress update failed", exc_info=True)

    def _apply_to_bar(self) -> None:
        bar, target, description = self._bar, self._target, self._description
        if bar is None:
            return
        if description is not None:
            self._description = None
            bar.set_description(description)
        if target is None:
            return
        done, total = target
        if total is not None and bar.total != total:
            bar.total = total
        if done != bar.n:
            bar.update(done - bar.n)
        if bar.is_canceled and not self._cancel_reported:
            self._cancel_reported = True
            self._on_cancel()

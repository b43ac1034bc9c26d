"""Progress bars (tqdm, on stderr) for training events and tiled restoration."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .events import Event, Finished, Started, Step, Validated


def format_duration(seconds: float) -> str:
    """``"4m12s"``, ``"1h03m"`` or ``"8.2s"``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class TrainProgress:
    """Feed training events to a tqdm bar showing the loss and validation loss.

    Parameters
    ----------
    enabled : bool
        False: track the events (for the summary) without drawing a bar.
    desc : str
        Bar label.
    verbose : bool
        False: print nothing at all, not even the notes (the other ranks of a DDP run).

    Examples
    --------
    >>> progress = TrainProgress(enabled=False)
    >>> progress(Started(total_steps=2, start_step=0, device="cpu"))
    >>> progress(Step(step=1, total_steps=2, loss=0.5))
    >>> progress.last_loss
    0.5
    """

    def __init__(
        self, *, enabled: bool = True, desc: str = "training", verbose: bool = True
    ) -> None:
        self.enabled = enabled and verbose
        self.verbose = verbose
        self.desc = desc
        self.bar: Any = None
        self.device = ""
        self.processes = 1
        self.backend = ""
        self.last_loss = math.nan
        self.smoothed_loss = math.nan
        self.val_loss = math.nan
        self.best_step: int | None = None
        self.start_time = time.perf_counter()
        self.steps_done = 0
        self.last_step = 0

    def __call__(self, event: Event) -> None:
        """Update the bar with one event."""
        if isinstance(event, Started):
            self.device = event.device
            self.processes, self.backend = event.processes, event.backend
            self.last_step = event.start_step
            self.start_time = time.perf_counter()
            for note in event.notes if self.verbose else ():  # what was chosen: always said
                print(f"{self.desc}: {note}", file=sys.stderr)
            if self.enabled:
                from tqdm.auto import tqdm

                self.bar = tqdm(
                    total=event.total_steps,
                    initial=event.start_step,
                    desc=f"{self.desc} on {self.where}",
                    unit="step",
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
        elif isinstance(event, Step):
            self.steps_done += 1
            self.last_step = event.step
            self.last_loss = event.loss
            alpha = 0.1
            self.smoothed_loss = (
                event.loss
                if math.isnan(self.smoothed_loss)
                else (1 - alpha) * self.smoothed_loss + alpha * event.loss
            )
            if self.bar is not None:
                self.bar.update(1)
                self._postfix()
        elif isinstance(event, Validated):
            self.val_loss = event.val_loss
            if self.bar is not None:
                self._postfix()
        elif isinstance(event, Finished):
            self.best_step = event.best_step
            self.close()

    def _postfix(self) -> None:
        postfix = {"loss": f"{self.smoothed_loss:.4g}"}
        if not math.isnan(self.val_loss):
            postfix["val"] = f"{self.val_loss:.4g}"
        self.bar.set_postfix(postfix, refresh=False)

    @property
    def where(self) -> str:
        """``"cpu"``, or ``"2 processes (gloo, cpu)"`` for a DDP run."""
        if self.backend:
            plural = "es" if self.processes > 1 else ""
            return f"{self.processes} process{plural} ({self.backend}, {self.device})"
        return self.device

    @property
    def elapsed(self) -> float:
        """Seconds since training started."""
        return time.perf_counter() - self.start_time

    def close(self) -> None:
        """Close the bar (idempotent)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def tile_progress(
    enabled: bool = True, desc: str = "restoring"
) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a tqdm bar over tiles (None if disabled).

    Examples
    --------
    >>> with tile_progress(enabled=False) as progress:
    ...     progress is None
    True
    """
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, unit="tile", file=sys.stderr, dynamic_ncols=True)

    def report(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield report
    finally:
        bar.close()

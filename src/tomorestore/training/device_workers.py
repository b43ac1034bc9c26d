"""Spreading independent jobs (the files of a data set) over compute devices: one worker
per device.

Workers are threads of one process, not processes: torch releases the GIL inside its
kernels and host-device copies, so workers on different GPUs run at the same time, while
the model is copied once per device in memory (no pickling, no torch import and CUDA
start-up per process), and progress bars, skipped files and failures stay in one place.
Python-side tile bookkeeping is small next to a tile's network pass.

A list may name a device twice (``cpu,cpu``: two workers on the CPU, mostly for tests; or
two workers sharing one large GPU).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..errors import Cancelled, InputError

T = TypeVar("T")


def parse_devices(spec: Any = None) -> list[Any]:
    """The devices of a comma-separated list, each checked to exist on this machine.

    Parameters
    ----------
    spec : str or torch.device, optional
        ``"cuda:0,cuda:1"``, ``"cpu,cpu"``, one device, or None / ``"auto"`` (one device:
        cuda, then mps, then cpu).

    Returns
    -------
    list of torch.device
        One per entry, in the given order (repeats kept: one worker each).

    Raises
    ------
    InputError
        An empty entry, or a device that is not available here (the message lists the
        available ones).

    Examples
    --------
    >>> parse_devices("cpu, cpu")
    [device(type='cpu'), device(type='cpu')]
    """
    from .device import resolve_device

    if spec is None or not isinstance(spec, str):
        return [resolve_device(spec or "auto")]
    names = [name.strip() for name in spec.split(",")]
    if any(not name for name in names):
        raise InputError(
            f"device list {spec!r} has an empty entry: separate devices by commas, e.g. "
            "cuda:0,cuda:1."
        )
    devices = []
    for name in names:
        try:
            devices.append(resolve_device(name))
        except InputError as err:
            if len(names) == 1:
                raise
            raise InputError(f"in the device list {spec!r}: {err}") from err
    return devices


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of one job.

    Parameters
    ----------
    index : int
        The job's position in the given list.
    item : object
        The job.
    device : torch.device or None
        The device of the worker that ran it (None: no worker could take it).
    result : object
        What the work function returned (None on failure).
    error : Exception or None
        Why it failed.
    """

    index: int
    item: T
    device: Any
    result: Any = None
    error: BaseException | None = None


Work = Callable[[Any, T, Any, Callable[[], bool]], Any]


def run_on_devices(
    items: Sequence[T],
    devices: Sequence[Any],
    work: Work,
    *,
    replicas: Sequence[Any] | None = None,
    on_outcome: Callable[[Outcome[T]], None] | None = None,
    poll_seconds: float = 0.2,
) -> list[Outcome[T]]:
    """Run ``work(replica, item, device, should_stop)`` for each item, one worker per device.

    Each worker takes the next item not yet taken, so fast devices do more. A job that
    raises an ``Exception`` becomes a failed :class:`Outcome` and the worker goes on with
    the next one. With one worker (one device or one item) everything runs in the calling
    thread.

    Parameters
    ----------
    items : sequence
        The jobs.
    devices : sequence of torch.device
        One worker per entry (at most one per item).
    work : callable
        ``work(replica, item, device, should_stop) -> result``; ``should_stop()`` turns
        True when the run is being cancelled (pass it on to restoration).
    replicas : sequence, optional
        One object per device handed to its worker (e.g. a copy of the model for each);
        make them before the call, so no two threads share one. Default: None each.
    on_outcome : callable, optional
        Called with each :class:`Outcome` as it comes, from the worker's thread, one call
        at a time.
    poll_seconds : float
        How often the calling thread wakes while waiting (so Ctrl-C reaches it).

    Returns
    -------
    list of Outcome
        One per item, in the order of ``items``.

    Raises
    ------
    BaseException
        :class:`~tomorestore.errors.Cancelled` or another non-``Exception`` from a worker,
        or ``KeyboardInterrupt`` in the calling thread: the other workers are stopped
        first (``should_stop()`` turns True; each finishes or abandons its current item).
    """
    if not devices:
        raise ValueError("run_on_devices needs at least one device")
    if replicas is not None and len(replicas) != len(devices):
        raise ValueError(f"{len(replicas)} replicas for {len(devices)} devices")
    count = max(min(len(devices), len(items)), 1)
    workers = [(devices[k], None if replicas is None else replicas[k]) for k in range(count)]
    run = _Run(items, work, on_outcome)
    if count == 1:
        run.worker(*workers[0])
    else:
        run.in_threads(workers, poll_seconds)
    return run.outcomes()


class _Run(Generic[T]):
    """The shared state of one :func:`run_on_devices` call."""

    def __init__(
        self,
        items: Sequence[T],
        work: Work,
        on_outcome: Callable[[Outcome[T]], None] | None,
    ) -> None:
        self.items = list(items)
        self.work = work
        self.on_outcome = on_outcome
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.next_index = 0
        self.results: dict[int, Outcome[T]] = {}
        self.fatal: list[BaseException] = []

    def take(self) -> int | None:
        """The index of the next job, or None when all are taken or the run stops."""
        with self.lock:
            if self.stop.is_set() or self.next_index >= len(self.items):
                return None
            self.next_index += 1
            return self.next_index - 1

    def report(self, outcome: Outcome[T]) -> None:
        with self.lock:
            self.results[outcome.index] = outcome
            if self.on_outcome is not None:
                self.on_outcome(outcome)

    def worker(self, device: Any, replica: Any) -> None:
        """Take jobs until none is left; record each outcome."""
        _select_device(device)
        while (index := self.take()) is not None:
            item = self.items[index]
            try:
                result = self.work(replica, item, device, self.stop.is_set)
            except Cancelled:
                self.stop.set()
                raise
            except Exception as err:  # noqa: BLE001 - one failed job must not stop the rest
                if self.stop.is_set():
                    return  # abandoned because the run is stopping (e.g. Cancelled)
                self.report(Outcome(index, item, device, error=err))
            else:
                self.report(Outcome(index, item, device, result=result))

    def guarded_worker(self, device: Any, replica: Any) -> None:
        """:meth:`worker` in a thread: anything else it raises stops the whole run."""
        try:
            self.worker(device, replica)
        except BaseException as err:  # noqa: BLE001 - handed to the calling thread
            with self.lock:
                self.fatal.append(err)
            self.stop.set()

    def in_threads(self, workers: list[tuple[Any, Any]], poll_seconds: float) -> None:
        threads = [
            threading.Thread(
                target=self.guarded_worker,
                args=worker,
                name=f"tomorestore-{worker[0]}-{k}",
                daemon=True,
            )
            for k, worker in enumerate(workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(poll_seconds)
        except BaseException:
            self.stop.set()
            for thread in threads:
                thread.join()
            raise
        if self.fatal:
            raise self.fatal[0]

    def outcomes(self) -> list[Outcome[T]]:
        return [self.results[k] for k in sorted(self.results)]


def _select_device(device: Any) -> None:
    """Make a CUDA ``device`` the current one of this thread (memory queries, caches)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)

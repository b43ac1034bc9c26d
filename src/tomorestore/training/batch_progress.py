"""Progress of a batch of restorations: a bar over files and a bar over the tiles of each
file being restored (tqdm, on stderr), and messages that do not break the bars.

Safe to use from several worker threads at once (one file each).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO


class BatchProgress:
    """Progress bars for restoring several files: files done, tiles of each current one.

    Parameters
    ----------
    total : int
        Number of files to restore.
    enabled : bool
        False: draw nothing (messages are still printed).

    Examples
    --------
    >>> progress = BatchProgress(2, enabled=False)
    >>> with progress.file("a.mrc") as tiles:
    ...     tiles is None
    True
    >>> progress.done
    1
    >>> progress.close()
    """

    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self.total = int(total)
        self.enabled = enabled
        self.done = 0
        self.bar: Any = None
        self._lock = threading.RLock()
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total, desc="files", unit="file", file=sys.stderr, dynamic_ncols=True
            )

    @contextlib.contextmanager
    def file(self, name: str) -> Iterator[Callable[[int, int], None] | None]:
        """Restore one file: yields a ``progress(done, total)`` callback over its tiles.

        The file counts as done when the block ends, whether it succeeded or failed.
        """
        tiles: Any = None
        with self._lock:
            if self.bar is not None:
                from tqdm.auto import tqdm

                self.bar.set_postfix_str(name, refresh=True)
                tiles = tqdm(
                    desc=f"  {name}", unit="tile", file=sys.stderr, dynamic_ncols=True,
                    leave=False,
                )  # fmt: skip

        def report(done: int, total: int) -> None:
            with self._lock:
                if tiles.total != total:
                    tiles.total = total
                tiles.n = done
                tiles.refresh()

        try:
            yield report if tiles is not None else None
        finally:
            with self._lock:
                if tiles is not None:
                    tiles.close()
                self.done += 1
                if self.bar is not None:
                    self.bar.update(1)

    def write(self, message: str, *, stream: TextIO | None = None) -> None:
        """Print a line above the bars (stdout by default)."""
        target = sys.stdout if stream is None else stream
        with self._lock:
            self._write(message, target)

    def _write(self, message: str, target: TextIO) -> None:
        if self.bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(message, file=target)
        else:
            print(message, file=target)

    def close(self) -> None:
        """Close the bars (idempotent)."""
        with self._lock:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

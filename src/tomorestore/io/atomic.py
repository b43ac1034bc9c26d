"""Atomic file writes: write beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


def _temporary_path(target: Path) -> Path:
    # A hidden name in the same folder: same file system, so os.replace is atomic.
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Give a temporary path beside ``path``; on success move it over ``path`` atomically.

    The temporary file is created empty (permissions follow the umask, like a normal new
    file). Write it completely inside the ``with`` block. When the block ends without an
    exception the file is flushed to disk and renamed onto ``path`` with
    :func:`os.replace`, so readers only ever see the old file or the complete new one.
    When the block raises, the temporary file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        The final destination.

    Yields
    ------
    pathlib.Path
        The temporary file to write.

    Examples
    --------
    >>> with atomic_write("out.mrc") as tmp:  # doctest: +SKIP
    ...     write_my_format(tmp)
    """
    target = Path(path)
    tmp = _temporary_path(target)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise

"""Keep freed memory for reuse on the CPU: glibc ``malloc``'s top pad.

A 3D U-Net allocates and frees the same large feature maps at every forward pass. With
glibc's defaults, freed blocks are handed back to the kernel (``munmap``, heap trimming)
and the next pass takes them again page by page, zeroed by the kernel: on the 2-core
development CPU (16-channel depth-3 U-Net, bf16 + ``channels_last_3d``, one
160 x 120 x 120 tile) a forward pass spent 2.4 s of system time per 2.2 s of user time and
ran at 2.0 M voxels/s; asking ``malloc`` to keep up to 1 GiB of freed memory
(``mallopt(M_TOP_PAD, 1 GiB)``) cut the system time to 0.5 s and raised the speed to
3.0 M voxels/s (``benchmarks/cpu_allocator.py``). PyTorch's own CPU performance guide
gives the same advice in another form (a caching allocator such as jemalloc or tcmalloc).

The memory kept is memory the process has already used once: the peak footprint grows
by at most the pad, and less when the freed blocks are reused, which they are at every
tile or training step.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

from ..errors import InputError

M_TOP_PAD = -2  # glibc's mallopt parameter number (malloc.h)
DEFAULT_TOP_PAD = 1 << 30
GLIBC_VARIABLE = "MALLOC_TOP_PAD_"  # glibc applies it at start; the user's choice wins
TOP_PAD_VARIABLE = "TOMORESTORE_MALLOC_TOP_PAD"  # bytes; 0 leaves malloc alone


@functools.lru_cache(maxsize=1)
def _mallopt():  # noqa: ANN202 - a ctypes function or None
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    if not hasattr(libc, "gnu_get_libc_version"):  # musl: its mallopt does nothing
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def top_pad_setting() -> int:
    """The pad to apply: ``TOMORESTORE_MALLOC_TOP_PAD`` (bytes) if set, else 1 GiB.

    Raises
    ------
    InputError
        If the variable is not a whole number of bytes in ``[0, 2**31)``.
    """
    text = os.environ.get(TOP_PAD_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TOP_PAD
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**31:
        raise InputError(
            f"{TOP_PAD_VARIABLE}={text!r} is not a number of bytes in [0, 2**31): set it to "
            "e.g. 268435456 (256 MiB), or 0 to leave malloc's settings alone"
        )
    return value


def keep_freed_memory(top_pad: int | None = None) -> bool:
    """Ask glibc ``malloc`` to keep up to ``top_pad`` bytes of freed memory for reuse.

    Called before running a network on the CPU (see :func:`~tomorestore.models.
    prepare_for_speed`). Does nothing where ``malloc`` is not glibc's (macOS, Windows,
    musl), when ``top_pad`` is 0, or when the environment variable ``MALLOC_TOP_PAD_`` is
    set (glibc has then applied the user's value at start).

    Parameters
    ----------
    top_pad : int, optional
        Bytes of freed memory ``malloc`` keeps instead of returning them to the system
        (0 to 2**31 - 1). Default: :func:`top_pad_setting` (the environment variable
        ``TOMORESTORE_MALLOC_TOP_PAD``, else 1 GiB).

    Returns
    -------
    bool
        Whether the setting was applied.
    """
    top_pad = top_pad_setting() if top_pad is None else int(top_pad)
    if not 0 <= top_pad < 2**31:
        raise ValueError(f"top_pad must be in [0, 2**31), got {top_pad}")
    if top_pad == 0 or GLIBC_VARIABLE in os.environ:
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_TOP_PAD, top_pad))

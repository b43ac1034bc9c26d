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
tile or training step. The pad depends on the work (quiet 2-core machine, docs/speed.md):

- **Restoring: 256 MiB.** The CLI restore of a 128 x 256 x 256 tomogram ran at 1.22 M
  voxels/s with 256 MiB, 512 MiB or 1 GiB (1.01 without a pad), while the batch restore
  of a 200 x 1024 x 1024 tomogram peaked at 568 MB of anonymous memory without a pad,
  648 MB with 256 MiB, 800 MB with 512 MiB and 827 MB with 1 GiB (1.21, 1.27, 1.55 and
  1.58 M voxels/s). 256 MiB keeps that restore within half the tomogram plus 300 MB
  (719 MB).
- **Training: 1 GiB.** A step's activations and gradients are larger: on three
  128 x 256 x 256 tomograms n2n ran 2.28 steps/s with 1 GiB, 2.00 without a pad and 1.98
  with 256 MiB.

A process never lowers a pad it has set (a restore inside a training run, dewedge's wedge
refill, keeps the training pad). ``TOMORESTORE_MALLOC_TOP_PAD`` sets one pad for all work.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

from ..errors import InputError

M_TOP_PAD = -2  # glibc's mallopt parameter number (malloc.h)
RESTORE_TOP_PAD = 256 << 20
TRAINING_TOP_PAD = 1 << 30
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


_applied_pad = 0  # the largest pad this process has set


def top_pad_setting(default: int = RESTORE_TOP_PAD) -> int:
    """The pad to apply: ``TOMORESTORE_MALLOC_TOP_PAD`` (bytes) if set, else ``default``.

    Raises
    ------
    InputError
        If the variable is not a whole number of bytes in ``[0, 2**31)``.
    """
    text = os.environ.get(TOP_PAD_VARIABLE, "").strip()
    if not text:
        return default
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


def keep_freed_memory(top_pad: int | None = None, *, training: bool = False) -> bool:
    """Ask glibc ``malloc`` to keep up to ``top_pad`` bytes of freed memory for reuse.

    Called before running a network on the CPU (see :func:`~tomorestore.models.
    prepare_for_speed`). Does nothing where ``malloc`` is not glibc's (macOS, Windows,
    musl), when ``top_pad`` is 0, or when the environment variable ``MALLOC_TOP_PAD_`` is
    set (glibc has then applied the user's value at start). A pad smaller than one this
    process has already set is not applied: the larger one stays.

    Parameters
    ----------
    top_pad : int, optional
        Bytes of freed memory ``malloc`` keeps instead of returning them to the system
        (0 to 2**31 - 1). Default: :func:`top_pad_setting` (the environment variable
        ``TOMORESTORE_MALLOC_TOP_PAD``, else 1 GiB for training and 256 MiB otherwise).
    training : bool
        Whether the network is about to be trained (a larger default pad).

    Returns
    -------
    bool
        Whether ``malloc`` keeps at least ``top_pad`` bytes after the call.
    """
    global _applied_pad
    if top_pad is None:
        top_pad = top_pad_setting(TRAINING_TOP_PAD if training else RESTORE_TOP_PAD)
    top_pad = int(top_pad)
    if not 0 <= top_pad < 2**31:
        raise ValueError(f"top_pad must be in [0, 2**31), got {top_pad}")
    if top_pad == 0 or GLIBC_VARIABLE in os.environ:
        return False
    if top_pad <= _applied_pad:
        return True
    mallopt = _mallopt()
    if mallopt is None:
        return False
    applied = bool(mallopt(M_TOP_PAD, top_pad))
    if applied:
        _applied_pad = top_pad
    return applied

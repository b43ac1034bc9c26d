"""Out-of-memory detection and the retry policy of tiled inference.

On an out-of-memory error the batch of tiles is halved; at batch 1 the tile edge is
halved (not below a floor, e.g. twice the network divisor); when neither is possible the
caller gets an :class:`~tomorestore.errors.InputError` that says what to try.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a device out-of-memory error (CUDA, MPS, XPU, CPU allocator)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_cached_memory() -> None:
    """Return cached blocks of the CUDA allocator after an out-of-memory error."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass(frozen=True)
class TileSettings:
    """Batch size and tile edges (Z, Y, X) of one attempt."""

    batch_size: int
    tile: tuple[int, int, int]


def shrink(settings: TileSettings, *, min_tile: int) -> TileSettings | None:
    """The next, smaller settings to try after an out-of-memory error, or ``None``.

    Halves the batch size while it is above 1, then halves every tile edge that stays
    ``>= min_tile``.

    Examples
    --------
    >>> shrink(TileSettings(4, (64, 64, 64)), min_tile=16)
    TileSettings(batch_size=2, tile=(64, 64, 64))
    >>> shrink(TileSettings(1, (64, 64, 64)), min_tile=16)
    TileSettings(batch_size=1, tile=(32, 32, 32))
    >>> shrink(TileSettings(1, (16, 16, 16)), min_tile=16) is None
    True
    """
    if settings.batch_size > 1:
        return TileSettings(settings.batch_size // 2, settings.tile)
    smaller = tuple(t // 2 if t // 2 >= min_tile else t for t in settings.tile)
    if smaller == settings.tile:
        return None
    return TileSettings(1, smaller)  # type: ignore[arg-type]


def out_of_memory_error(settings: TileSettings, device: object, min_tile: int) -> InputError:
    """The error to raise when even the smallest settings run out of memory."""
    return InputError(
        f"out of memory on {device} even with batch size {settings.batch_size} and tile "
        f"{'x'.join(map(str, settings.tile))} (the smallest allowed tile edge is {min_tile}). "
        "Free memory used by other programs, use a smaller network, or restore on the CPU "
        "(--device cpu)."
    )

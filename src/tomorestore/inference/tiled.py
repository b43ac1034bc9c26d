"""Sliding-window inference over a whole tomogram, tile by tile."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import Cancelled, InputError
from .oom import (
    TileSettings,
    is_out_of_memory,
    out_of_memory_error,
    release_cached_memory,
    shrink,
)
from .slabs import fill_in_slabs
from .tiling import BLEND_MODES, DEFAULT_OVERLAP, TileGrid, plan_grid

Predict = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_MIN_TILE = 16


class _TileTooLarge(Exception):
    """Out of memory at batch size 1: the pass must restart with smaller tiles."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


def predict_tiled(
    volume: Any,
    predict: Predict,
    *,
    tile: int | Sequence[int] = 64,
    overlap: float = DEFAULT_OVERLAP,
    blend: str = "gaussian",
    batch_size: int = 1,
    compute_device: torch.device | str = "cpu",
    stitch_device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    min_size: int | Sequence[int] | None = None,
    out: Any = None,
    multiple: int = 1,
    border_margin: float = 0.0,
) -> np.ndarray:
    """Apply ``predict`` to a whole volume in overlapping, blended tiles.

    Only one batch of tiles is ever converted to float32 and sent to ``compute_device``, so
    a memory-mapped tomogram of any size can be restored. Borders are reflect-padded by
    half the overlap (at least ``border_margin`` of a tile) so border voxels get context.
    Each tile's contribution is weighted by its blending window divided by the (separable)
    sum of windows, so the output is final
    as soon as the last tile is added: with ``out`` a memory-mapped file, no full-size
    array is ever held in memory.

    Parameters
    ----------
    volume : array-like (Z, Y, X)
        A NumPy array or ``np.memmap`` of any real dtype; read tile by tile.
    predict : callable
        Maps a float32 tensor ``(B, 1, tz, ty, tx)`` on ``compute_device`` to a tensor of
        the same shape (any device and float dtype).
    tile : int or (int, int, int)
        Largest tile edge(s) in voxels. Each axis gets as many tiles as MONAI's grid would
        give it, shrunk to the shortest length that still covers the axis with the overlap
        (see :func:`~tomorestore.inference.tiling.plan_axis`). Axes shorter than a tile
        get one (reflect-padded) tile of the axis length plus margins.
    overlap : float
        Fraction of a tile shared with its neighbour, in ``[0, 1)``.
    blend : {"gaussian", "linear", "constant"}
        Weighting of overlapping tiles (gaussian: sigma = 0.125 tile, as MONAI).
    batch_size : int
        Tiles per call of ``predict``.
    compute_device, stitch_device : torch.device or str
        Where tiles are predicted and where the output is accumulated (CPU by default,
        which keeps GPU memory for the network).
    progress : callable, optional
        Called as ``progress(done, total)`` (tiles) after each batch. After an
        out-of-memory restart with smaller tiles, counting starts again with the new total.
    should_stop : callable, optional
        Checked before each batch; when it returns True, :class:`~tomorestore.errors.
        Cancelled` is raised.
    min_size : int or (int, int, int), optional
        Smallest allowed volume extent and tile edge (e.g. twice the network divisor), or
        the smallest ``(Z, Y, X)`` extents of the volume for a network whose needs differ
        per axis (tile edges then at least their largest).
    out : array-like (Z, Y, X), optional
        A writable, **zero-filled** float32 array of the volume's shape (e.g. an
        ``np.memmap`` of a new file, or a view of one) that receives the result in place;
        ``stitch_device`` is then not used. It is zeroed again if an out-of-memory error
        forces a restart with smaller tiles.
    multiple : int
        Shrunk tile edges are rounded up to a multiple of this (a network's divisor, so
        that it pads nothing internally), never beyond ``tile``.
    border_margin : float
        Smallest reflection margin at the volume's borders, as a fraction of the tile
        (default: half the overlap only). Networks with per-tile statistics need
        :data:`~tomorestore.inference.tiling.BORDER_MARGIN_FRACTION`.

    Returns
    -------
    numpy.ndarray
        float32 (Z, Y, X), the blended predictions (``out`` itself when given).

    Raises
    ------
    InputError
        Bad volume or parameters, non-finite voxels, or out of memory even at the smallest
        tile (the message says what to try).
    Cancelled
        When ``should_stop()`` returned True.

    Notes
    -----
    On an out-of-memory error (``torch.cuda.OutOfMemoryError`` or a ``RuntimeError``
    mentioning "out of memory") the cache is emptied and the batch is retried with half
    the batch size; at batch size 1 the tiles are halved (not below ``min_size``, default
    16) and the pass restarts.
    """
    if not hasattr(volume, "shape") or not hasattr(volume, "dtype"):
        volume = np.asarray(volume)
    min_shape = None if min_size is None else _per_axis(min_size)
    if min_shape is not None and len(min_shape) != 3:
        raise ValueError(f"min_size must be an int or three ints, got {min_size!r}")
    min_size = None if min_shape is None else max(min_shape)
    shape = _check_volume(volume, min_shape)
    tiles = _check_tile(tile, min_size)
    if not 0.0 <= float(overlap) < 1.0:
        raise InputError(f"overlap must be in [0, 1), got {overlap}")
    if blend not in BLEND_MODES:
        raise InputError(f"unknown blend {blend!r}: choose one of {', '.join(BLEND_MODES)}")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    compute = torch.device(compute_device)
    stitch = torch.device(stitch_device)
    min_tile = min_size if min_size else DEFAULT_MIN_TILE

    target = None if out is None else _check_out(out, shape)

    settings = TileSettings(int(batch_size), tiles)
    while True:
        grid = plan_grid(
            shape, settings.tile, float(overlap), multiple=int(multiple),
            min_tile=min_size or 1, border_margin=float(border_margin),
        )  # fmt: skip
        try:
            return _predict_pass(
                volume, predict, grid, blend, settings.batch_size, compute, stitch,
                progress, should_stop, target,
            )  # fmt: skip
        except _TileTooLarge as too_large:
            cause = too_large.cause
        # the traceback's frames hold the failed pass's activations: free them first
        traceback.clear_frames(cause.__traceback__)
        release_cached_memory()
        if target is not None:
            fill_in_slabs(target, 0.0)  # the next pass starts from a clean output
        smaller = shrink(TileSettings(1, settings.tile), min_tile=min_tile)
        if smaller is None:
            raise out_of_memory_error(TileSettings(1, settings.tile), compute, min_tile) from cause
        settings = smaller


def _per_axis(size: int | Sequence[int]) -> tuple[int, ...]:
    """``size`` on every axis, or the sizes given (as ints; the caller checks their number)."""
    return (int(size),) * 3 if np.isscalar(size) else tuple(int(n) for n in size)


def _check_volume(volume: Any, min_shape: Sequence[int] | None) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in getattr(volume, "shape", ()))
    dtype = np.dtype(getattr(volume, "dtype", np.float64))
    if len(shape) != 3:
        raise InputError(
            f"expected a 3D (Z, Y, X) volume, got shape {shape}; pass one tomogram at a time"
        )
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise InputError(f"volume has dtype {dtype}; convert it to a real number type")
    if min(shape) < 1:
        raise InputError(f"volume of shape {shape} is empty")
    short = [i for i in range(3) if min_shape is not None and shape[i] < min_shape[i]]
    if short:
        need = tuple(int(n) for n in min_shape)  # type: ignore[union-attr]
        axis = short[0]
        raise InputError(
            f"volume of shape {shape} is too small along {'ZYX'[axis]}: this network needs "
            f"at least {need[axis]} voxels there ({need} along Z, Y, X); pad the volume or "
            "use a shallower network"
        )
    return shape  # type: ignore[return-value]


def _check_out(out: Any, shape: tuple[int, int, int]) -> Any:
    if tuple(getattr(out, "shape", ())) != shape:
        raise InputError(
            f"out has shape {tuple(getattr(out, 'shape', ()))}, the volume {shape}: give an "
            "output array of the volume's shape"
        )
    if np.dtype(getattr(out, "dtype", None)) != np.float32:
        raise InputError(f"out must be a float32 array, got dtype {out.dtype}")
    flags = getattr(out, "flags", None)
    if flags is None or not flags.writeable:
        raise InputError("out is read-only: give a writable array (e.g. np.memmap mode 'w+')")
    return out


def _check_tile(tile: int | Sequence[int], min_size: int | None) -> tuple[int, int, int]:
    tiles = _per_axis(tile)
    if len(tiles) != 3 or min(tiles) < 1:
        raise InputError(f"tile must be a positive int or three positive ints, got {tile}")
    if min_size is not None and min(tiles) < min_size:
        raise InputError(f"tile {tile} is too small: use a tile edge of at least {min_size}")
    return tiles  # type: ignore[return-value]


def _read_tile(volume: Any, grid: TileGrid, start: tuple[int, int, int]) -> np.ndarray:
    """The float32 tile at padded position ``start`` (reflected at the borders).

    Reads only the bounding slab of the tile from ``volume`` (a memmap stays on disk).
    """
    indices = [axis.source_indices(s) for axis, s in zip(grid.axes, start, strict=True)]
    bounds = [(int(i.min()), int(i.max()) + 1) for i in indices]
    slab = volume[tuple(slice(lo, hi) for lo, hi in bounds)]
    local = [i - lo for i, (lo, _) in zip(indices, bounds, strict=True)]
    if any(
        len(i) != hi - lo or np.any(np.diff(i) != 1)
        for i, (lo, hi) in zip(local, bounds, strict=True)
    ):
        slab = np.asarray(slab)[np.ix_(*local)]
    tile = np.array(slab, dtype=np.float32, copy=True)
    if not np.isfinite(tile).all():
        raise InputError(
            "the volume contains NaN or infinite values; replace them (e.g. numpy.nan_to_num) "
            "before restoring"
        )
    return tile


def _predict_pass(
    volume: Any,
    predict: Predict,
    grid: TileGrid,
    blend: str,
    batch_size: int,
    compute: torch.device,
    stitch: torch.device,
    progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
    out: Any,
) -> np.ndarray:
    """One pass over ``grid``; halves ``batch_size`` on out-of-memory errors."""
    shape = tuple(axis.length for axis in grid.axes)
    accumulator = _Accumulator(grid, blend, shape, stitch, out)
    positions = grid.positions
    total = len(positions)
    done = 0
    while done < total:
        if should_stop is not None and should_stop():
            raise Cancelled("restoration stopped by the user")
        chunk = positions[done : done + batch_size]
        batch = np.stack([_read_tile(volume, grid, start) for start in chunk])[:, None]
        failure: BaseException | None = None
        try:
            x = torch.from_numpy(batch).to(compute)
            y = predict(x)
            if tuple(y.shape) != tuple(x.shape):
                raise ValueError(
                    f"predict returned shape {tuple(y.shape)} for input {tuple(x.shape)}"
                )
            y = y.detach().to(device=accumulator.device, dtype=torch.float32)
        except Exception as error:  # noqa: BLE001 - filtered right below
            if not is_out_of_memory(error):
                raise
            failure = error
        if failure is not None:
            x = y = None  # drop references before emptying the cache
            release_cached_memory()
            if batch_size == 1:
                raise _TileTooLarge(failure)
            batch_size //= 2
            continue
        for k, start in enumerate(chunk):
            accumulator.add(start, y[k, 0])
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return accumulator.result()


class _Accumulator:
    """Sums the weighted tiles of one pass into a tensor (on the stitch device) or ``out``.

    Each tile is weighted by its window divided by the sum of all windows over the voxel
    (both separable: three 1D factors per tile), so the sum is the blended result.
    """

    def __init__(
        self,
        grid: TileGrid,
        blend: str,
        shape: tuple[int, ...],
        stitch: torch.device,
        out: Any,
    ) -> None:
        self.out = out
        self.device = stitch if out is None else torch.device("cpu")
        self.output = (
            torch.zeros(shape, dtype=torch.float32, device=stitch) if out is None else None
        )
        self.axes = grid.axes
        self.factors = [
            _normalised_windows(axis, window, sums, self.device)
            for axis, window, sums in zip(
                grid.axes, grid.windows(blend), grid.weight_sums(blend), strict=True
            )
        ]

    def add(self, start: tuple[int, int, int], tile: torch.Tensor) -> None:
        """Add the prediction ``tile`` of the tile at padded position ``start``."""
        spans = [axis.output_span(s) for axis, s in zip(self.axes, start, strict=True)]
        out_index = tuple(span[0] for span in spans)
        tile_index = tuple(span[1] for span in spans)
        fz, fy, fx = (factors[s] for factors, s in zip(self.factors, start, strict=True))
        weighted = tile[tile_index] * (fz[:, None, None] * fy[None, :, None] * fx[None, None, :])
        if self.output is not None:
            self.output[out_index] += weighted
        else:
            self.out[out_index] += weighted.numpy()

    def result(self) -> np.ndarray:
        """The blended volume (float32 NumPy; ``out`` itself when given)."""
        if self.output is None:
            return self.out
        return self.output.cpu().numpy()


def _normalised_windows(
    axis: Any, window: np.ndarray, sums: np.ndarray, device: torch.device
) -> dict[int, torch.Tensor]:
    """Per tile start: the window over the tile's in-volume part divided by the weight sum."""
    factors = {}
    for start in axis.starts:
        out, inside = axis.output_span(start)
        factor = (window[inside].astype(np.float64) / sums[out]).astype(np.float32)
        factors[start] = torch.from_numpy(factor).to(device)
    return factors

"""Tile grids and blending windows for sliding-window inference (MONAI semantics).

Along each axis the volume of length ``n`` is reflect-padded by ``margin`` voxels on both
sides (border voxels get context), tiles of length ``t`` start every
``interval = int(t * (1 - overlap))`` voxels and the last one is shifted to end at the
padded border (as in MONAI ``sliding_window_inference``). Each tile's prediction is weighted
by a separable window that vanishes on a thin ``trim`` band at the tile edge (where the
network saw zero padding) and blended. Because windows are separable and the grid is a
Cartesian product, the sum of weights is the outer product of per-axis sums: no weight
volume is stored.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

BlendMode = Literal["gaussian", "linear", "constant"]
BLEND_MODES: tuple[str, ...] = ("gaussian", "linear", "constant")
GAUSSIAN_SIGMA_SCALE = 0.125  # sigma = 0.125 * tile, as MONAI's default
# Fraction of a tile shared with its neighbour. 0.125 (16 voxels of a 128-voxel tile):
# a simulated 128x256x256 n2n restoration kept its inner Pearson with the truth within
# 0.0005 of overlap 0.25's and its mean distance to one untiled pass at 1.2% of the std
# (0.7% at 0.25), for 1.3x the end-to-end speed (docs/speed.md).
DEFAULT_OVERLAP = 0.125
# Reflection margin at the volume's borders, as a fraction of the tile, for networks with
# per-tile statistics (instance or group norm), whatever the overlap. On the 64x128x128
# sparse benchmark tomogram an n2v model (instance norm) restored with whole-volume
# Pearson 0.468 with 8-voxel margins (overlap 0.125's), 0.641 with 16 and 0.676 with 32,
# while its inner region (16-voxel border excluded) moved only from 0.706 to 0.720: the
# border voxels need the context. An n2n model without normalisation lost 0.005 between
# margins of 16 and 8 (128x256x256), so it keeps the overlap's margin and its speed.
BORDER_MARGIN_FRACTION = 0.125


def reflect_indices(positions: np.ndarray, length: int) -> np.ndarray:
    """Map (possibly out-of-range) positions into ``[0, length)`` by mirror reflection.

    Same as ``numpy.pad(mode="reflect")`` (edge not repeated), repeated as often as needed,
    so any padding width works. A length-1 axis maps everything to 0.
    """
    positions = np.asarray(positions, dtype=np.int64)
    if length == 1:
        return np.zeros_like(positions)
    period = 2 * (length - 1)
    folded = np.mod(positions, period)
    return np.where(folded < length, folded, period - folded)


def tile_starts(padded_length: int, tile: int, overlap: float) -> list[int]:
    """Start positions of tiles of length ``tile`` covering ``[0, padded_length)``.

    ``tile <= padded_length``. Tiles step by ``max(1, int(tile * (1 - overlap)))``; the last
    one ends exactly at ``padded_length``.
    """
    if tile > padded_length:
        raise ValueError(f"tile {tile} longer than the axis {padded_length}")
    interval = max(1, int(tile * (1.0 - overlap)))
    count = math.ceil((padded_length - tile) / interval) + 1
    starts = sorted({min(i * interval, padded_length - tile) for i in range(count)})
    return starts


def window_1d(length: int, mode: str, trim: int) -> np.ndarray:
    """Blending weights along one tile axis (float64, maximum 1, zero on ``trim`` voxels
    at each end).

    ``gaussian``: ``exp(-(i - c)^2 / (2 sigma^2))`` with ``sigma = 0.125 * length``;
    ``linear``: a triangle that falls to ``1 / half-width`` at the kept edge; ``constant``:
    ones.
    """
    if mode not in BLEND_MODES:
        raise ValueError(f"unknown blend mode {mode!r}; choose one of {', '.join(BLEND_MODES)}")
    if 2 * trim >= length:
        raise ValueError(f"trim {trim} leaves nothing of a tile of {length}")
    index = np.arange(length, dtype=np.float64)
    if mode == "gaussian":
        sigma = max(GAUSSIAN_SIGMA_SCALE * length, 1e-3)
        centre = (length - 1) / 2.0
        weights = np.exp(-((index - centre) ** 2) / (2.0 * sigma**2))
    elif mode == "linear":
        weights = np.minimum(index - trim + 1.0, length - trim - index)
    else:
        weights = np.ones(length)
    weights[:trim] = 0.0
    weights[length - trim :] = 0.0
    weights /= weights.max()
    kept = weights[trim : length - trim]
    # keep every kept weight positive (a far gaussian tail underflows; as MONAI's clamp)
    positive_min = kept[kept > 0].min()
    weights[trim : length - trim] = np.maximum(kept, positive_min)
    return weights


@dataclass(frozen=True)
class AxisTiling:
    """Tiling of one axis: ``length`` voxels, padded by ``margin`` on both sides."""

    length: int
    tile: int
    margin: int
    trim: int
    starts: tuple[int, ...]  # in padded coordinates

    @property
    def padded_length(self) -> int:
        return self.length + 2 * self.margin

    def source_indices(self, start: int) -> np.ndarray:
        """Indices into the unpadded axis for the tile starting at padded ``start``."""
        return reflect_indices(np.arange(start, start + self.tile) - self.margin, self.length)

    def output_span(self, start: int) -> tuple[slice, slice]:
        """(slice into the volume, slice into the tile) of the tile's in-volume part."""
        first = start - self.margin
        lo = max(first, 0)
        hi = min(first + self.tile, self.length)
        return slice(lo, hi), slice(lo - first, hi - first)


def fitted_tile(padded_length: int, tile: int, overlap_voxels: int, count: int,
                *, multiple: int = 1, min_tile: int = 1) -> int:  # fmt: skip
    """The shortest tile, at most ``tile``, with which ``count`` tiles still cover the axis.

    ``count`` tiles of length ``t`` that overlap by at least ``overlap_voxels`` cover
    ``padded_length`` when ``count * t - (count - 1) * overlap_voxels >= padded_length``.
    The length is rounded up to a multiple of ``multiple`` (a network's divisor: no
    internal padding) and raised to ``min_tile``, but never exceeds ``tile`` or the axis.
    """
    needed = -(-(padded_length + (count - 1) * overlap_voxels) // count)  # ceil division
    rounded = -(-needed // max(1, multiple)) * max(1, multiple)
    return min(max(rounded, min_tile), tile, padded_length)


def spread_starts(padded_length: int, tile: int, count: int) -> list[int]:
    """``count`` starts of tiles of ``tile`` voxels, evenly spread over the axis.

    The first starts at 0 and the last ends at ``padded_length``; neighbours are at most
    ``ceil((padded_length - tile) / (count - 1))`` apart.
    """
    if count == 1:
        return [0]
    span = padded_length - tile
    return [(i * span + (count - 1) // 2) // (count - 1) for i in range(count)]


def plan_axis(
    length: int,
    tile: int,
    overlap: float,
    *,
    multiple: int = 1,
    min_tile: int = 1,
    border_margin: float = 0.0,
) -> AxisTiling:
    """Tile one axis of ``length`` voxels with tiles of at most ``tile`` voxels.

    The reflection margin is half the overlap (``(tile - interval) // 2``), and at least
    ``border_margin`` of the tile; the trim band is a quarter of the overlap, so
    neighbouring tiles still cross-fade over half the overlap and border voxels lie inside
    the kept part of a tile. The number of tiles is that of MONAI's
    grid (:func:`tile_starts`); the tiles are then shrunk to the shortest length that still
    covers the axis with at least the same overlap (:func:`fitted_tile`) and spread evenly.
    An axis no longer than a tile gets one tile of the padded length, margins included,
    even where that exceeds ``tile`` (by at most the overlap): Z of a 128-voxel-thick
    tomogram with tiles of 128 and overlap 0.25 gets one tile of 160 instead of two of 96,
    and the border treatment (reflection) does not depend on the tile size.
    """
    interval = max(1, int(tile * (1.0 - overlap)))
    overlap_voxels = tile - interval
    margin = max(overlap_voxels // 2, int(tile * border_margin))
    trim = overlap_voxels // 4
    padded = length + 2 * margin
    if length <= tile:  # one tile, with its full margins (it may exceed `tile` by them)
        return AxisTiling(length, padded, margin, trim, (0,))
    count = len(tile_starts(padded, tile, overlap))
    axis_tile = fitted_tile(
        padded, tile, overlap_voxels, count, multiple=multiple, min_tile=min_tile
    )
    starts = spread_starts(padded, axis_tile, count)
    return AxisTiling(length, axis_tile, margin, trim, tuple(starts))


@dataclass(frozen=True)
class TileGrid:
    """A 3D tile grid: the Cartesian product of three :class:`AxisTiling`."""

    axes: tuple[AxisTiling, AxisTiling, AxisTiling]

    @property
    def tile_shape(self) -> tuple[int, int, int]:
        return tuple(axis.tile for axis in self.axes)  # type: ignore[return-value]

    @property
    def positions(self) -> list[tuple[int, int, int]]:
        """Tile start positions (padded coordinates), in C order."""
        return list(itertools.product(*(axis.starts for axis in self.axes)))

    def __len__(self) -> int:
        return math.prod(len(axis.starts) for axis in self.axes)

    @property
    def network_voxels(self) -> int:
        """Voxels pushed through the network in one pass over the grid."""
        return len(self) * math.prod(self.tile_shape)

    def windows(self, mode: str) -> list[np.ndarray]:
        """Per-axis blending windows (float32); the 3D window is their outer product."""
        return [window_1d(a.tile, mode, a.trim).astype(np.float32) for a in self.axes]

    def weight_sums(self, mode: str) -> list[np.ndarray]:
        """Per-axis sums of the windows over all tiles (float64, positive everywhere)."""
        sums = []
        for axis, window in zip(self.axes, self.windows(mode), strict=True):
            total = np.zeros(axis.length, dtype=np.float64)
            for start in axis.starts:
                out, inside = axis.output_span(start)
                total[out] += window[inside]
            if not np.all(total > 0):  # guaranteed by plan_axis; a bug otherwise
                raise RuntimeError("tile grid leaves voxels without weight")
            sums.append(total)
        return sums


def plan_grid(
    shape: tuple[int, int, int],
    tile: tuple[int, int, int],
    overlap: float,
    *,
    multiple: int = 1,
    min_tile: int = 1,
    border_margin: float = 0.0,
) -> TileGrid:
    """Plan the tiles that cover a volume of ``shape`` (Z, Y, X) (see :func:`plan_axis`)."""
    axes = tuple(
        plan_axis(n, t, overlap, multiple=multiple, min_tile=min_tile, border_margin=border_margin)
        for n, t in zip(shape, tile, strict=True)
    )
    return TileGrid(axes)  # type: ignore[arg-type]

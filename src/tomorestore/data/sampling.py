"""Sub-tomogram sampling with a spatially disjoint validation region.

:class:`PatchSampler` cuts cubic crops from one tomogram or from even/odd halves (always at
the same place in every half). A slab at the end of the Y axis (the tilt axis, along which
the sample extends) is held out for validation when the volume is large enough, so that the
validation loss measures generalisation to voxels never trained on. Training crops are
centred where the foreground mask is true.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

#: Number of fixed crops in the validation set (fewer when the region is small).
MAX_VALIDATION_CROPS = 8
#: Replacement halves of this many bytes or more live in memory-mapped scratch files.
SCRATCH_BYTES = 64 * 2**20


class SmallVolumeWarning(UserWarning):
    """The volume is too small to hold out a disjoint validation region."""


class PatchSampler:
    """Random training crops and a fixed validation set from 1 or 2 half tomograms.

    Parameters
    ----------
    halves : list of array-like
        One tomogram or ``[even, odd]``: normalised ``(Z, Y, X)`` volumes of one shape —
        float32 arrays, or array-likes read piece by piece (a
        :class:`~tomorestore.data.normalized_volume.NormalizedVolume` over a memory map:
        crops are read from the file, never the whole volume).
    crop_size : int
        Edge of the cubic crops (``method.crop_size(patch_size)``). Volumes smaller than a
        crop along some axis are reflection-padded to the crop size.
    mask : numpy.ndarray of bool, optional
        Where crops may be centred (same shape as the halves). None: everywhere.
    validation_fraction : float
        Fraction of the Y axis held out for validation (0 disables the hold-out region;
        validation crops then come from the training region).
    seed : int
        Seed for the choice of validation crops.

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.random.default_rng(0).normal(size=(32, 96, 32)).astype(np.float32)
    >>> sampler = PatchSampler([vol], crop_size=16)
    >>> sampler.train_batch(4, np.random.default_rng(1)).shape
    (4, 1, 16, 16, 16)
    """

    def __init__(
        self,
        halves: Sequence[np.ndarray],
        *,
        crop_size: int,
        mask: np.ndarray | None = None,
        validation_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        if not 1 <= len(halves) <= 2:
            raise InputError(f"expected 1 tomogram or 2 halves, got {len(halves)} volumes.")
        shapes = {tuple(h.shape) for h in halves}
        if len(shapes) != 1:
            raise InputError(
                f"the halves have different shapes {sorted(shapes)}: even and odd tomograms "
                "must be reconstructed with the same size."
            )
        if crop_size < 1:
            raise InputError(f"crop size must be positive, got {crop_size}.")
        if not 0.0 <= validation_fraction < 1.0:
            raise InputError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
        self.crop_size = int(crop_size)
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._generation = 0
        self.original_shape: tuple[int, int, int] = tuple(halves[0].shape)  # type: ignore[assignment]
        self._pad = [(0, max(0, self.crop_size - n)) for n in self.original_shape]
        self._halves = [self._padded(h) for h in halves]
        self.shape: tuple[int, int, int] = tuple(self._halves[0].shape)  # type: ignore[assignment]
        self.warnings: list[str] = []
        self._split_regions(validation_fraction)
        allowed = None
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != self.original_shape:
                raise InputError(
                    f"mask shape {mask.shape} does not match the tomogram shape "
                    f"{self.original_shape}."
                )
            allowed = np.pad(mask, self._pad, mode="edge") if any(p[1] for p in self._pad) else mask
        self._train_corners, self._stride = self._corner_grid(self.train_region, allowed)
        self._val_corners = self._validation_corners(allowed, seed)

    # -- geometry ---------------------------------------------------------------------------
    def _padded(self, half: Any) -> Any:
        if any(p[1] for p in self._pad):  # smaller than a crop: small enough to load
            half = np.asarray(half, dtype=np.float32)
            return np.pad(half, self._pad, mode="reflect" if min(half.shape) > 1 else "edge")
        return half

    def _split_regions(self, validation_fraction: float) -> None:
        """Set ``train_region`` and ``validation_region`` as ``(y_start, y_stop)``."""
        ny, c = self.shape[1], self.crop_size
        n_val = max(c, math.ceil(validation_fraction * ny))
        if validation_fraction > 0 and ny - n_val >= c:
            self.train_region = (0, ny - n_val)
            self.validation_region = (ny - n_val, ny)
            self.disjoint = True
            return
        self.train_region = (0, ny)
        self.validation_region = (0, ny)
        self.disjoint = False
        if validation_fraction > 0:
            message = (
                f"the volume {self.original_shape} is too small to hold out a validation slab "
                f"of crops of {c} voxels along Y (needs Y >= {2 * c}); validating on a fixed "
                "set of crops from the training region instead, so the validation loss "
                "measures fit, not generalisation."
            )
            self.warnings.append(message)
            warnings.warn(message, SmallVolumeWarning, stacklevel=3)

    def _corner_grid(
        self, y_region: tuple[int, int], allowed: np.ndarray | None, *, warn: bool = True
    ) -> tuple[np.ndarray, int]:
        """Crop corners on a coarse grid whose crop centre lies in ``allowed``."""
        c = self.crop_size
        stride = max(1, c // 4)
        lows = (0, y_region[0], 0)
        highs = (self.shape[0] - c, y_region[1] - c, self.shape[2] - c)
        axes = [np.arange(lo, hi + 1, stride) for lo, hi in zip(lows, highs, strict=True)]
        corners = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        if allowed is not None:
            centres = np.minimum(corners + c // 2, np.array(self.shape) - 1)
            inside = allowed[centres[:, 0], centres[:, 1], centres[:, 2]]
            if inside.any():
                corners = corners[inside]
            elif warn:
                message = (
                    "no crop centre of the training region lies inside the mask; sampling "
                    "the whole training region instead. Enlarge the mask or the volume."
                )
                self.warnings.append(message)
                warnings.warn(message, SmallVolumeWarning, stacklevel=4)
        return corners.astype(np.int64), stride

    def _validation_corners(self, allowed: np.ndarray | None, seed: int) -> np.ndarray:
        # A held-out slab without sample in it still validates: no warning, no mask.
        corners, _ = self._corner_grid(self.validation_region, allowed, warn=False)
        rng = np.random.default_rng(seed)
        n = min(MAX_VALIDATION_CROPS, len(corners))
        chosen = rng.choice(len(corners), size=n, replace=False)
        return corners[np.sort(chosen)]

    # -- crops ------------------------------------------------------------------------------
    @property
    def n_halves(self) -> int:
        """Number of half tomograms (1 or 2)."""
        return len(self._halves)

    @property
    def halves(self) -> list[np.ndarray]:
        """The (possibly padded) normalised halves crops are cut from."""
        return list(self._halves)

    def set_halves(self, halves: Sequence[Any]) -> None:
        """Replace the halves (e.g. after a wedge refill): 1 or 2 volumes of the same shape.

        Halves of :data:`SCRATCH_BYTES` or more are moved to memory-mapped scratch files (in
        the system's temporary folder, ``TMPDIR``; removed with the sampler), so that a
        data set's refilled halves do not stay in memory.
        """
        self._generation += 1
        # asanyarray keeps a float32 memory map (e.g. from next_halves) as it is
        arrays = [np.asanyarray(h, dtype=np.float32) for h in halves]
        new = [self._to_scratch(a, i) for i, a in enumerate(arrays)]
        if not 1 <= len(new) <= 2:
            raise InputError(f"expected 1 tomogram or 2 halves, got {len(new)} volumes.")
        if any(h.shape == self.original_shape for h in new):
            new = [self._padded(h) if h.shape == self.original_shape else h for h in new]
        if any(h.shape != self.shape for h in new):
            raise InputError(
                f"replacement halves must have shape {self.original_shape} or {self.shape}."
            )
        self._halves = new

    def unpadded_halves(self) -> list[Any]:
        """The halves without the reflection padding of volumes smaller than a crop.

        Volumes at least a crop large are never padded: they are returned as they are
        (memory maps and :class:`~tomorestore.data.NormalizedVolume` stay lazy).
        """
        z, y, x = self.original_shape
        return [h if tuple(h.shape) == (z, y, x) else h[:z, :y, :x] for h in self._halves]

    def next_halves(self, count: int | None = None) -> list[np.ndarray]:
        """Zero-filled float32 arrays (unpadded shape) to fill and pass to :meth:`set_halves`.

        ``count`` arrays (default: as many as there are halves now; 2 turns one tomogram
        into a pair, e.g. the tomogram and its denoised version).

        Large ones are the memory-mapped scratch files the next :meth:`set_halves` keeps
        (it takes them as they are, without a copy), so a refill can write its result
        there slab by slab instead of holding a whole half in memory.
        """
        shape = self.original_shape
        count = len(self._halves) if count is None else int(count)
        if int(np.prod(shape)) * 4 < SCRATCH_BYTES:
            return [np.zeros(shape, dtype=np.float32) for _ in range(count)]
        paths = [self._scratch_path(i, self._generation + 1) for i in range(count)]
        for path in paths:
            path.unlink(missing_ok=True)  # a new file reads as zeros
        return [np.memmap(p, dtype=np.float32, mode="w+", shape=shape) for p in paths]

    def _scratch_path(self, index: int, generation: int) -> Path:
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="tomorestore-refill-")
        # two files per half, used in turn: the halves being replaced stay intact
        return Path(self._scratch.name) / f"half{index}-{generation % 2}.f32"

    def _to_scratch(self, array: np.ndarray, index: int) -> np.ndarray:
        if array.nbytes < SCRATCH_BYTES:
            return array
        path = self._scratch_path(index, self._generation)
        filename = getattr(array, "filename", None)
        if filename is not None and Path(filename).resolve() == path.resolve():
            array.flush()  # type: ignore[attr-defined]
            return array  # filled in place (next_halves)
        stored = np.memmap(path, dtype=np.float32, mode="w+", shape=array.shape)
        stored[...] = array
        stored.flush()
        return stored

    def crops_at(self, corners: np.ndarray) -> np.ndarray:
        """Crops ``(N, H, c, c, c)`` with the given corners from every half."""
        c = self.crop_size
        out = np.empty((len(corners), self.n_halves, c, c, c), dtype=np.float32)
        for i, (z, y, x) in enumerate(corners):
            for h, half in enumerate(self._halves):
                out[i, h] = half[z : z + c, y : y + c, x : x + c]
        return out

    def train_batch(self, batch_size: int, generator: np.random.Generator) -> np.ndarray:
        """Random training crops ``(batch_size, H, c, c, c)`` (same place in every half)."""
        picks = self._train_corners[generator.integers(0, len(self._train_corners), batch_size)]
        jitter = generator.integers(0, self._stride, size=picks.shape)
        c = self.crop_size
        lows = np.array([0, self.train_region[0], 0])
        highs = np.array([self.shape[0] - c, self.train_region[1] - c, self.shape[2] - c])
        corners = np.clip(picks + jitter, lows, highs)
        return self.crops_at(corners)

    def validation_batch(self) -> np.ndarray:
        """The fixed validation crops ``(N, H, c, c, c)`` cut from the current halves."""
        return self.crops_at(self._val_corners)

    @property
    def n_validation(self) -> int:
        """Number of validation crops."""
        return len(self._val_corners)

    @property
    def train_corners(self) -> np.ndarray:
        """Grid corners that training crops are drawn around (before jitter)."""
        return self._train_corners.copy()

    @property
    def validation_corners(self) -> np.ndarray:
        """Corners of the fixed validation crops."""
        return self._val_corners.copy()

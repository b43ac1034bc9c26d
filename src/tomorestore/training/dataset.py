"""A training data set: several tomograms (or even/odd pairs), each with its own wedge.

One model trains on all of them: each step draws its sub-tomograms from one tomogram,
chosen in proportion to its sample volume, and each tomogram keeps its own tilt range,
intensity statistics, sampling mask and held-out validation slab.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .config import WedgeConfig

#: Relative difference of voxel sizes tolerated within one data set.
VOXEL_SIZE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Tomogram:
    """One tomogram of a data set.

    Parameters
    ----------
    halves : list
        ``[volume]`` or ``[even, odd]``: arrays, memory maps or
        :class:`~tomorestore.io.Volume` objects (read piece by piece, never copied whole).
    wedge : WedgeConfig, optional
        Its tilt range (None: the configuration's ``wedge``).
    mask : array-like, optional
        Where its sub-tomograms may be centred (non-zero; its shape). None: found
        automatically.
    name : str
        For messages (a file name).
    """

    halves: list[Any]
    wedge: WedgeConfig | None = None
    mask: Any = None
    name: str = ""
    voxel_size: tuple[float, float, float] | None = field(default=None)


def as_tomograms(data: Any, *, mask: Any = None) -> list[Tomogram]:
    """A data set as a list of :class:`Tomogram` (one volume or one pair → one tomogram).

    Parameters
    ----------
    data : Tomogram, sequence of Tomogram, or the halves of one tomogram
        ``[volume]``, ``[even, odd]``, a single volume, or tomograms.
    mask : array-like, optional
        Sampling mask of a single tomogram (data sets give each tomogram its own).

    Raises
    ------
    InputError
        For a mask given with several tomograms (or with one that has its own).
    """
    if isinstance(data, Tomogram):
        items: list[Tomogram] = [data]
    elif isinstance(data, (list, tuple)) and data and all(isinstance(d, Tomogram) for d in data):
        items = list(data)
    else:
        halves = list(data) if isinstance(data, (list, tuple)) else [data]
        return [Tomogram(halves=halves, mask=mask, voxel_size=_voxel_size_of(halves))]
    if mask is not None:
        if len(items) > 1 or items[0].mask is not None:
            raise InputError(
                "a single mask= cannot apply to several tomograms; give each Tomogram its own mask."
            )
        items = [replace(items[0], mask=mask)]
    return [
        t if t.voxel_size is not None else replace(t, voxel_size=_voxel_size_of(t.halves))
        for t in items
    ]


def _voxel_size_of(halves: Sequence[Any]) -> tuple[float, float, float] | None:
    """The voxel size of the first half that carries one (a ``Volume``), else None."""
    return next((h.voxel_size for h in halves if hasattr(h, "voxel_size")), None)


def common_voxel_size(tomograms: Sequence[Tomogram]) -> tuple[float, float, float] | None:
    """The voxel size shared by the tomograms that have one (None if none has one).

    Raises
    ------
    InputError
        When two tomograms differ by more than :data:`VOXEL_SIZE_TOLERANCE` (relative):
        one model learns structures at one scale.
    """
    known = [(t.name or f"tomogram {i + 1}", t.voxel_size) for i, t in enumerate(tomograms)]
    known = [(name, tuple(float(v) for v in size)) for name, size in known if size is not None]
    if not known:
        return None
    first_name, first = known[0]
    for name, size in known[1:]:
        pairs = list(zip(first, size, strict=True))
        if any(abs(a - b) > VOXEL_SIZE_TOLERANCE * max(abs(a), abs(b)) for a, b in pairs):
            factor = max(a / b for a, b in pairs)
            raise InputError(
                f"the tomograms have different voxel sizes: {first_name} {first} Å vs {name} "
                f"{size} Å (factor {factor:.3g}); one model is trained at one scale — bin or "
                "resample them to the same voxel size first (e.g. IMOD's binvol)."
            )
    return first  # type: ignore[return-value]


def build_dataset(
    *,
    inputs: Sequence[Any] | None = None,
    evens: Sequence[Any] | None = None,
    odds: Sequence[Any] | None = None,
    table: Any = None,
    tilt_range: Any = None,
    tilt_angles: Any = None,
    tilt_axis: str = "Y",
    flags: bool = False,
) -> list[Tomogram]:
    """The tomograms of a data set, from lists of files (or arrays) or a data-set table.

    Parameters
    ----------
    inputs : sequence, optional
        Single tomograms (paths, arrays or :class:`~tomorestore.io.Volume`).
    evens, odds : sequence, optional
        Even and odd halves, matched by position (same length).
    table : path, optional
        A data-set table (:func:`~tomorestore.io.read_dataset_table`); not combined with
        the lists.
    tilt_range : (float, float), optional
        One tilt range for every tomogram without one of its own.
    tilt_angles : path or sequence of paths, optional
        IMOD ``.tlt``/``.rawtlt`` or SerialEM ``.mdoc`` files: one for all tomograms, or one
        per tomogram (same order); their min and max are the tilt range.
    tilt_axis : {"Y", "X"}
        Tilt axis of every tomogram.
    flags : bool
        Word the messages for the command line (``--evens``) instead of Python.

    Returns
    -------
    list of Tomogram
        Files are memory-mapped (nothing is loaded); names are the file names.

    Raises
    ------
    InputError
        Lists of different lengths, both lists and a table, both a tilt range and tilt-angle
        files, a wrong number of tilt-angle files, unreadable files.
    """
    from ..io import as_volume, read_dataset_table, read_tilt_angles, tilt_range_from_angles
    from .config import make_wedge

    word = (lambda n: f"--{n}") if flags else (lambda n: f"{n}=")
    if tilt_range is not None and tilt_angles is not None:
        raise InputError(
            f"give the tilt range ({word('tilt-range' if flags else 'tilt_range')}) or "
            f"tilt-angle files ({word('tilt-angles' if flags else 'tilt_angles')}), not both."
        )
    rows: list[tuple[list[Any], tuple[float, float] | None, Any, Any]] = []
    if table is not None:
        if inputs or evens or odds:
            raise InputError("give a data-set table or lists of tomograms, not both.")
        for row in read_dataset_table(table):
            rows.append((list(row.halves), row.tilt_range, row.tilt_angles, row.mask))
    elif inputs:
        if evens or odds:
            raise InputError(
                f"give single tomograms ({word('input')}) or even/odd halves "
                f"({word('even')}, {word('odd')}), not both."
            )
        rows = [([item], None, None, None) for item in inputs]
    else:
        evens, odds = list(evens or []), list(odds or [])
        if len(evens) != len(odds) or not evens:
            raise InputError(
                f"{len(evens)} even and {len(odds)} odd halves: give one odd half per even "
                f"half ({word('even')} and {word('odd')} matched by position)."
            )
        rows = [([e, o], None, None, None) for e, o in zip(evens, odds, strict=True)]
    angle_files = _per_tomogram(
        tilt_angles, len(rows), word("tilt-angles" if flags else "tilt_angles")
    )
    tomograms = []
    for index, (halves, row_range, row_angles, mask) in enumerate(rows):
        volumes = open_halves(halves)
        name = Path(halves[0]).name if _is_path(halves[0]) else f"tomogram {index + 1}"
        angles = row_angles if row_angles is not None else angle_files[index]
        if row_range is not None:
            span = row_range
        elif angles is not None:
            span = tilt_range_from_angles(read_tilt_angles(angles), source=angles)
        else:
            span = tilt_range
        tomograms.append(
            Tomogram(
                halves=volumes,
                wedge=make_wedge(span, tilt_axis),
                mask=None if mask is None else as_volume(mask).data,
                name=name,
                voxel_size=_voxel_size_of(volumes),
            )
        )
    return tomograms


def _per_tomogram(files: Any, count: int, flag: str) -> list[Any]:
    if files is None:
        return [None] * count
    items = [files] if _is_path(files) else list(files)
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise InputError(
            f"{len(items)} tilt-angle files for {count} tomograms: give one file for all or "
            f"one per tomogram ({flag})."
        )
    return items


def _is_path(item: Any) -> bool:
    return isinstance(item, (str, bytes)) or hasattr(item, "__fspath__")


def open_halves(items: Sequence[Any]) -> list[Any]:
    """Paths and ``Volume`` objects as (memory-mapped) ``Volume`` objects, checked.

    NumPy arrays stay bare arrays: they carry no voxel size, and the 1 Å placeholder of
    :func:`~tomorestore.io.as_volume` must not reach the model.
    """
    from ..io import as_volume

    return [
        as_volume(item).data if isinstance(item, np.ndarray) else as_volume(item) for item in items
    ]

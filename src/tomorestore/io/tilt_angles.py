"""Tilt angles from the files users keep them in: IMOD ``.tlt``/``.rawtlt`` and SerialEM ``.mdoc``.

- ``.tlt`` / ``.rawtlt`` (IMOD, AreTomo): one angle in degrees per line; blank lines are
  ignored.
- ``.mdoc`` (SerialEM): one ``[ZValue = n]`` section per image of the tilt series, each
  with one ``TiltAngle = <degrees>`` entry. Entries outside ``[ZValue]`` sections (the
  header, ``[T = ...]`` title lines, ``[FrameSet]`` sections of frame-stack mdocs) are
  ignored.

The tilt range of a series is the minimum and maximum of its angles
(:func:`tilt_range_from_angles`), in the handedness of ``docs/architecture.md`` (the
numbers of the ``.tlt`` file as they are).

Examples
--------
>>> angles = read_tilt_angles("TS_01.tlt")  # doctest: +SKIP
>>> tilt_range_from_angles(angles, source="TS_01.tlt")  # doctest: +SKIP
(-48.0, 62.0)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["TILT_ANGLE_SUFFIXES", "read_tilt_angles", "tilt_range_from_angles"]

#: File suffixes :func:`read_tilt_angles` reads.
TILT_ANGLE_SUFFIXES = (".tlt", ".rawtlt", ".mdoc")

_SECTION = re.compile(r"^\[\s*([A-Za-z]+)\s*=\s*([^\]]*)\]\s*$")
_ENTRY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*)$")
_TILT_KEY = "tiltangle"


def _angle(text: str, where: str, what: str) -> float:
    """Parse one angle (degrees) or raise an ``InputError`` naming ``where``."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"{where}: {text!r} is not a number; {what}. Fix or regenerate the file."
        ) from None
    if not math.isfinite(value):
        raise InputError(f"{where}: the tilt angle {text!r} is not a finite number; {what}.")
    if not -90.0 < value < 90.0:
        raise InputError(
            f"{where}: the tilt angle {value:g} is outside (-90, 90) degrees; tilt angles are "
            "in degrees, e.g. -60 to 60. Check that this is a tilt-angle file."
        )
    return value


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InputError(f"{path}: no such file. Check the path of the tilt-angle file.")
    if not path.is_file():
        raise InputError(f"{path}: not a file. Give a .tlt, .rawtlt or .mdoc file.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: not a text file. A tilt-angle file is text: one angle per line (.tlt, "
            ".rawtlt) or SerialEM 'TiltAngle = ...' entries (.mdoc)."
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}).") from None


def _parse_tlt(text: str, path: Path) -> list[float]:
    what = "a .tlt/.rawtlt file holds one tilt angle in degrees per line"
    angles = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped:
            angles.append(_angle(stripped, f"{path}, line {number}", what))
    return angles


def _parse_mdoc(text: str, path: Path) -> list[float]:
    what = "a SerialEM .mdoc holds 'TiltAngle = <degrees>' in each [ZValue = n] section"
    angles: list[float] = []
    section: str | None = None  # the header of the current [ZValue] section, or None
    section_line = 0
    found = False  # the current [ZValue] section has its TiltAngle
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = _SECTION.match(stripped)
        if header:
            if section is not None and not found:
                raise InputError(
                    f"{path}, line {section_line}: section {section} has no 'TiltAngle = ...' "
                    f"entry; {what}."
                )
            is_z = header.group(1).lower() == "zvalue"
            section, section_line, found = (stripped if is_z else None), number, False
            continue
        entry = _ENTRY.match(stripped)
        if section is None or not entry or entry.group(1).lower() != _TILT_KEY:
            continue
        where = f"{path}, line {number}"
        if found:
            raise InputError(f"{where}: a second TiltAngle entry in section {section}; {what}.")
        value = entry.group(2).split()
        if len(value) != 1:
            raise InputError(f"{where}: expected one number after 'TiltAngle =', got {line!r}.")
        angles.append(_angle(value[0], where, what))
        found = True
    if section is not None and not found:
        raise InputError(
            f"{path}, line {section_line}: section {section} has no 'TiltAngle = ...' entry; "
            f"{what}."
        )
    return angles


def read_tilt_angles(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the tilt angles (degrees) of a tilt series from an IMOD or SerialEM file.

    Parameters
    ----------
    path : str or path-like
        A ``.tlt`` or ``.rawtlt`` file (one angle per line, blank lines allowed) or a
        SerialEM ``.mdoc`` file (``TiltAngle = x`` in each ``[ZValue = n]`` section).

    Returns
    -------
    numpy.ndarray
        float64 angles in file order, each in (-90, 90) degrees.

    Raises
    ------
    InputError
        For a missing or unreadable file, another suffix, a file without angles, a value
        that is not a finite number, or an angle outside (-90, 90); the message names the
        file and line and says what to do.

    Examples
    --------
    >>> read_tilt_angles("TS_01.rawtlt")  # doctest: +SKIP
    array([-60., -57., ..., 60.])
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in TILT_ANGLE_SUFFIXES:
        raise InputError(
            f"{file}: unsupported tilt-angle file type {suffix or '(no extension)'!r}. "
            f"Give an IMOD .tlt/.rawtlt file (one angle per line) or a SerialEM .mdoc file."
        )
    text = _read_text(file)
    angles = _parse_mdoc(text, file) if suffix == ".mdoc" else _parse_tlt(text, file)
    if not angles:
        kind = (
            "'TiltAngle = ...' entries in [ZValue = n] sections"
            if suffix == ".mdoc"
            else "angles, one per line"
        )
        raise InputError(f"{file}: no tilt angles found; the file should hold {kind}.")
    return np.asarray(angles, dtype=np.float64)


def tilt_range_from_angles(
    angles: Sequence[float] | np.ndarray, *, source: str | os.PathLike[str] | None = None
) -> tuple[float, float]:
    """The tilt range ``(min, max)`` (degrees) of a tilt series' angles.

    Parameters
    ----------
    angles : sequence of float
        Tilt angles in degrees, e.g. from :func:`read_tilt_angles`.
    source : str or path-like, optional
        Where the angles come from, named in error messages.

    Returns
    -------
    tuple of float
        ``(tilt_min, tilt_max)``.

    Raises
    ------
    InputError
        When the angles are not finite numbers in (-90, 90) or fewer than two distinct
        angles are given (no range).
    """
    where = f"{source}: " if source is not None else ""
    try:
        array = np.asarray(angles, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{where}tilt angles must be numbers in degrees.") from None
    if not np.all(np.isfinite(array)) or np.any(np.abs(array) >= 90.0):
        raise InputError(f"{where}tilt angles must be finite numbers in (-90, 90) degrees.")
    if np.unique(array).size < 2:
        raise InputError(
            f"{where}a tilt range needs at least two different tilt angles, got "
            f"{array.size} angle(s) {np.unique(array).tolist()}."
        )
    return float(array.min()), float(array.max())

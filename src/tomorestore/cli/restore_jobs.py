"""The files a ``tomorestore restore`` run reads and writes, checked before anything runs.

:func:`plan_jobs` turns the command line into one :class:`RestoreJob` per tomogram (or
even/odd pair) and checks everything that can be checked up front: list lengths, flags
that cannot be combined, that every input exists and is a readable volume (its header is
read and its data memory-mapped), that pairs match in shape, the tilt-angle files, and that
no two jobs write the same output. Any problem is an :class:`~tomorestore.errors.InputError`
(exit status 2) raised before a file is written.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

#: Appended to the input's stem to name an output in ``--out-dir``.
OUTPUT_SUFFIX = "_restored.mrc"


@dataclass(frozen=True)
class RestoreJob:
    """One restoration: a tomogram or an even/odd pair, its output and its tilt angles.

    Parameters
    ----------
    inputs : tuple of Path
        ``(tomogram,)`` or ``(even, odd)``.
    output : Path
        The MRC file to write.
    tilt_angles : Path, optional
        The tomogram's own tilt-angle file.
    """

    inputs: tuple[Path, ...]
    output: Path
    tilt_angles: Path | None = None

    @property
    def name(self) -> str:
        """The input's file name (the even half's for a pair)."""
        return self.inputs[0].name

    @property
    def shown_inputs(self) -> str:
        """The input file(s) as a user gave them."""
        return " + ".join(str(path) for path in self.inputs)


def output_name(path: Path) -> str:
    """``<stem>_restored.mrc`` for an input file (``a.rec`` -> ``a_restored.mrc``)."""
    return f"{path.stem}{OUTPUT_SUFFIX}"


def plan_jobs(args: argparse.Namespace) -> list[RestoreJob]:
    """The jobs of a ``restore`` command line, all inputs checked (see the module notes).

    Parameters
    ----------
    args : argparse.Namespace
        With ``input``, ``even``, ``odd`` (lists of paths or None), ``out``, ``out_dir``,
        ``tilt_range``, ``tilt_angles``.

    Returns
    -------
    list of RestoreJob
        In the order given.

    Raises
    ------
    InputError
        For anything wrong with the command line or the input files.
    """
    groups = _input_groups(args.input, args.even, args.odd)
    if args.out is not None and args.out_dir is not None:
        raise InputError("--out and --out-dir cannot be combined: give one of them.")
    if args.out is None and args.out_dir is None:
        raise InputError(
            "no output given: use --out FILE for one tomogram or --out-dir DIR for several."
        )
    if args.out is not None and len(groups) > 1:
        raise InputError(
            f"--out writes one file but {len(groups)} tomograms were given: use --out-dir DIR "
            f"(each is written as <name>{OUTPUT_SUFFIX})."
        )
    angles = _angle_files(args.tilt_angles, args.tilt_range, len(groups))
    for group in groups:
        _check_readable(group)
    if args.out is not None:
        outputs = [_check_output_file(args.out)]
    else:
        _check_output_dir(args.out_dir)
        outputs = [args.out_dir / output_name(group[0][1]) for group in groups]
    jobs = [
        RestoreJob(tuple(path for _, path in group), output, angle_file)
        for group, output, angle_file in zip(groups, outputs, angles, strict=True)
    ]
    _check_distinct(jobs)
    return jobs


def _input_groups(
    inputs: list[Path] | None, evens: list[Path] | None, odds: list[Path] | None
) -> list[list[tuple[str, Path]]]:
    """``[[("--input", path)], ...]`` or ``[[("--even", e), ("--odd", o)], ...]``."""
    if inputs is not None and (evens is not None or odds is not None):
        raise InputError(
            "give tomograms (--input) or even/odd halves (--even and --odd), not both in one "
            "run; restore them in two runs."
        )
    if inputs is not None:
        return [[("--input", path)] for path in inputs]
    if evens is None and odds is None:
        raise InputError("no tomogram given: use --input T.mrc ..., or --even E.mrc ... "
                         "--odd O.mrc ...")  # fmt: skip
    if evens is None or odds is None:
        missing = "--odd" if odds is None else "--even"
        raise InputError(f"{missing} is missing: even/odd halves come in pairs.")
    if len(evens) != len(odds):
        raise InputError(
            f"--even has {len(evens)} files but --odd has {len(odds)}: give one odd half per "
            "even half, in the same order."
        )
    return [[("--even", e), ("--odd", o)] for e, o in zip(evens, odds, strict=True)]


def _angle_files(
    files: list[Path] | None, tilt_range: list[float] | None, count: int
) -> list[Path | None]:
    """One tilt-angle file (or None) per job; the files are read once to check them."""
    if files is None:
        return [None] * count
    if tilt_range is not None:
        raise InputError("give --tilt-range or --tilt-angles, not both.")
    if len(files) not in (1, count):
        raise InputError(
            f"--tilt-angles has {len(files)} files for {count} tomograms: give one file for "
            "all of them or one per tomogram, in the same order."
        )
    from ..io import read_tilt_angles, tilt_range_from_angles

    for path in dict.fromkeys(files):
        tilt_range_from_angles(read_tilt_angles(path), source=path)
    return list(files) * count if len(files) == 1 else list(files)


def _check_readable(group: list[tuple[str, Path]]) -> None:
    """Each file exists and is a readable volume; a pair's halves have one shape."""
    import warnings

    from ..io import read_volume

    shapes = []
    for flag, path in group:
        if not path.is_file():
            raise InputError(f"{flag} {path}: no such file.")
        if not os.access(path, os.R_OK):
            raise InputError(f"{flag} {path}: permission denied; check the file's permissions.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # warnings show when the file is restored
            try:
                volume = read_volume(path)
            except InputError as err:
                raise InputError(f"{flag} {err}") from err
            except OSError as err:
                raise InputError(f"{flag} {path}: cannot be read ({err}).") from err
        shapes.append(volume.shape)
        del volume
    if len(shapes) == 2 and shapes[0] != shapes[1]:
        raise InputError(
            f"--even {group[0][1]} and --odd {group[1][1]} differ in shape: {shapes[0]} vs "
            f"{shapes[1]}; give halves of the same tilt series."
        )


def _check_output_file(path: Path) -> Path:
    from ..io import WRITE_SUFFIXES

    if path.suffix.lower() not in WRITE_SUFFIXES:
        raise InputError(
            f"--out {path}: tomorestore writes MRC files; use one of the suffixes "
            f"{' '.join(WRITE_SUFFIXES)} (e.g. restored.mrc)."
        )
    if path.is_dir():
        raise InputError(f"--out {path} is a folder: give a file name, or use --out-dir.")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"--out {path}: the folder {folder} does not exist; create it first.")
    if not os.access(folder, os.W_OK):
        raise InputError(f"--out {path}: cannot write in {folder} (permission denied).")
    return path


def _check_output_dir(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out-dir {folder} is a file, not a folder.")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        raise InputError(f"--out-dir {folder}: cannot write in {existing} (permission denied).")


def _check_distinct(jobs: list[RestoreJob]) -> None:
    """No two jobs write one file; no job overwrites an input."""
    inputs = {path.resolve() for job in jobs for path in job.inputs}
    seen: dict[Path, RestoreJob] = {}
    for job in jobs:
        key = job.output.resolve()
        if key in inputs:
            raise InputError(
                f"the output {job.output} is one of the inputs: choose another --out or --out-dir."
            )
        if key in seen:
            raise InputError(
                f"{seen[key].shown_inputs} and {job.shown_inputs} would both be written to "
                f"{job.output}: rename one of them or restore them in separate runs."
            )
        seen[key] = job

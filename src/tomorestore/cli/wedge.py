"""``tomorestore wedge``: estimate a tomogram's tilt range from its power spectrum.

Examples::

    tomorestore wedge T.mrc
    T.mrc: tilt range -49.5 to 61.5 degrees (confidence 0.99)

    tomorestore wedge T.mrc --json
    {"tilt_min": -49.5, "tilt_max": 61.5, "confidence": 0.986}

With ``--json`` stdout holds one JSON object per line (JSON Lines), one per file in the
order given: ``{"tilt_min", "tilt_max", "confidence"}`` (degrees; confidence in [0, 1]);
when several files are given each object also names its ``"file"``. Nothing else is
printed to stdout, so with one file the last line is exactly that object.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

_DESCRIPTION = (
    "Estimate the tilt range of each tomogram from the missing wedge in its own power "
    "spectrum (the measured region holds the power, the missing wedge little), in the "
    "handedness of the README's convention (the numbers of an IMOD .tlt file). The edge "
    "found lies about half a tilt step beyond the outermost tilt. Confidence is in [0, 1]: "
    "above about 0.8 the wedge is clear; below 0.5 the data show no clear missing wedge and "
    "the range is a guess. Use the range with 'tomorestore train --tilt-range MIN MAX'."
)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``wedge`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "wedge",
        help="estimate a tomogram's tilt range (missing wedge) from its power spectrum",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "tomograms",
        metavar="TOMOGRAM",
        type=Path,
        nargs="+",
        help="tomogram file(s): .mrc .rec .st .map .ali .tif .tiff",
    )
    parser.add_argument(
        "--tilt-axis",
        choices=("Y", "X"),
        type=str.upper,
        default="Y",
        help="tilt axis of the volume (Z, Y, X) (default: Y)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object per file and line: {"tilt_min", "tilt_max", '
        '"confidence"} (plus "file" when several files are given)',
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Estimate and print the tilt range of each tomogram; return the exit status."""
    from ..io import VoxelSizeWarning, read_volume
    from ..physics.wedge_estimate import LOW_CONFIDENCE, estimate_tilt_range

    several = len(args.tomograms) > 1
    for path in args.tomograms:
        with warnings.catch_warnings():  # the voxel size plays no part in the estimate
            warnings.simplefilter("ignore", VoxelSizeWarning)
            volume = read_volume(path)  # memory-mapped: only the planes used are read
        estimate = estimate_tilt_range(volume.data, tilt_axis=args.tilt_axis)
        if args.json:
            record = {"file": str(path)} if several else {}
            record.update(estimate.as_dict())
            print(json.dumps(record), flush=True)
        else:
            print(
                f"{path}: tilt range {estimate.tilt_min:.1f} to {estimate.tilt_max:.1f} "
                f"degrees (confidence {estimate.confidence:.2f})"
                + (", no clear missing wedge" if estimate.confidence < LOW_CONFIDENCE else ""),
                flush=True,
            )
    return 0

"""``tomorestore simulate``: write a synthetic tomogram with its ground truth.

Example::

    tomorestore simulate sim/ --shape 64,128,128 --tilt-range -48 62 --snr 0.1 --seed 1
    tomorestore simulate ice/ --sample sparse          # objects in vitreous ice, no slab
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import InputError

#: Smallest size per axis (voxels) the command accepts; kept equal to
#: ``tomorestore.simulate.tomogram.MIN_SIZE`` without importing it at start-up.
MIN_SIZE = 16


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``simulate`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "simulate",
        help="write a synthetic cryo-ET tomogram (even/odd/full, ground truth) as MRC files",
        description=(
            "Simulate a cellular lamella (vesicles, microtubules, actin, macromolecules) or, "
            "with --sample sparse, isolated objects in vitreous ice; project it over a tilt "
            "series about Y and reconstruct it by weighted "
            "back-projection. Writes full.mrc, even.mrc, odd.mrc, ground_truth.mrc, "
            "wedge_only.mrc and tilt_angles.tlt into OUTDIR."
        ),
    )
    parser.add_argument("outdir", metavar="OUTDIR", type=Path, help="output folder (created)")
    parser.add_argument(
        "--shape",
        default="64,128,128",
        metavar="Z,Y,X",
        help=f"volume size in voxels, each >= {MIN_SIZE} (default: 64,128,128)",
    )
    parser.add_argument(
        "--tilt-range",
        nargs=2,
        type=float,
        default=(-60.0, 60.0),
        metavar=("MIN", "MAX"),
        help="tilt range in degrees, -90 < MIN < MAX < 90 (default: -60 60)",
    )
    parser.add_argument(
        "--tilt-step", type=float, default=3.0, metavar="S", help="tilt step, degrees (3)"
    )
    parser.add_argument(
        "--snr",
        type=float,
        default=0.1,
        metavar="S",
        help="projection signal-to-noise ratio of the full dose (default: 0.1)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (0)")
    parser.add_argument(
        "--voxel-size", type=float, default=10.0, metavar="A", help="voxel size in Å (10)"
    )
    parser.add_argument(
        "--sample",
        choices=("lamella", "sparse"),
        default="lamella",
        help="lamella: dense cytoplasm slab between vacuum (default); sparse: vesicles, "
        "microtubule pieces and macromolecules sparsely in vitreous ice (no Z profile)",
    )
    parser.set_defaults(func=run)
    return parser


def parse_shape(text: str) -> tuple[int, int, int]:
    """Parse ``"Z,Y,X"`` into three integers of at least :data:`MIN_SIZE`."""
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < MIN_SIZE:
        raise InputError(
            f"--shape must be three integers Z,Y,X, each at least {MIN_SIZE}, got {text!r}; "
            "e.g. --shape 64,128,128"
        )
    return shape  # type: ignore[return-value]


def _check_arguments(args: argparse.Namespace) -> tuple[int, int, int]:
    shape = parse_shape(args.shape)
    tilt_min, tilt_max = args.tilt_range
    if not (-90.0 < tilt_min < tilt_max < 90.0):
        raise InputError(
            f"--tilt-range must satisfy -90 < MIN < MAX < 90 degrees, got {tilt_min:g} "
            f"{tilt_max:g}; e.g. --tilt-range -60 60"
        )
    for flag, value in (
        ("--tilt-step", args.tilt_step),
        ("--snr", args.snr),
        ("--voxel-size", args.voxel_size),
    ):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{flag} must be a positive number, got {value:g}")
    if args.tilt_step > tilt_max - tilt_min:
        raise InputError(
            f"--tilt-step {args.tilt_step:g} is larger than the tilt range "
            f"{tilt_max - tilt_min:g}; use a few degrees, e.g. --tilt-step 3"
        )
    if args.outdir.exists() and not args.outdir.is_dir():
        raise InputError(f"OUTDIR {args.outdir} exists and is not a folder; choose another")
    return shape


def run(args: argparse.Namespace) -> int:
    """Simulate, write the files, print a one-line summary; return the exit status."""
    shape = _check_arguments(args)
    from ..simulate import simulate_tomogram, write_simulation

    sim = simulate_tomogram(
        shape,
        tilt_range=tuple(args.tilt_range),
        tilt_step=args.tilt_step,
        snr=args.snr,
        seed=args.seed,
        voxel_size=args.voxel_size,
        sample=args.sample,
    )
    written = write_simulation(sim, args.outdir)
    names = ", ".join(path.name for path in written.values())
    print(
        f"tomorestore simulate: wrote {names} to {args.outdir} "
        f"(shape {'x'.join(map(str, shape))}, tilts {sim.tilt_range[0]:g}..{sim.tilt_range[1]:g} "
        f"step {args.tilt_step:g}, {sim.tilt_angles.size} tilts, snr {args.snr:g}, "
        f"voxel {args.voxel_size:g} Å, seed {args.seed}, {args.sample} sample)"
    )
    return 0

"""``tomorestore restore``: restore a tomogram with a trained model.

Example::

    tomorestore restore --model model.ckpt --even even.mrc --odd odd.mrc --out restored.mrc
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import InputError
from .train import add_input_arguments, check_inputs


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``restore`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "restore",
        help="restore a tomogram with a trained model (tiled, any size)",
        description=(
            "Restore one tomogram or its even/odd halves tile by tile with a checkpoint "
            "written by 'tomorestore train'. The output is float32 MRC with the input's "
            "voxel size and origin, in the input's intensity units."
        ),
    )
    parser.add_argument(
        "--model", required=True, type=Path, metavar="model.ckpt", help="trained checkpoint"
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--out", required=True, type=Path, metavar="restored.mrc", help="MRC file to write"
    )
    parser.add_argument(
        "--tile", type=int, metavar="T", help="tile edge in voxels (96 on CPU, 128 on GPU)"
    )
    parser.add_argument(
        "--overlap", type=float, default=0.25, metavar="F", help="tile overlap in [0, 1) (0.25)"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Restore and write; print a one-line summary; return the exit status."""
    check_inputs(args)
    if not 0.0 <= args.overlap < 1.0:
        raise InputError(f"--overlap must be in [0, 1), got {args.overlap:g}; e.g. 0.25")
    from ..api import load_model, restore
    from ..training.progress import format_duration

    start = time.perf_counter()
    model = load_model(args.model)
    volume = restore(
        model,
        input=args.input,
        even=args.even,
        odd=args.odd,
        out=args.out,
        tile=args.tile,
        overlap=args.overlap,
        device=args.device or "auto",
        progress=not args.quiet,
    )
    shape = "x".join(str(n) for n in volume.shape)
    voxel = "x".join(f"{v:g}" for v in volume.voxel_size)
    print(
        f"restored {shape} with {model.method_name} (step {model.step}) in "
        f"{format_duration(time.perf_counter() - start)}, voxel {voxel} Å -> {args.out}"
    )
    return 0

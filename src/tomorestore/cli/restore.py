"""``tomorestore restore``: restore tomograms with a trained model, one or a whole data set.

Examples::

    tomorestore restore --model model.ckpt --even even.mrc --odd odd.mrc --out restored.mrc
    tomorestore restore --model model.ckpt --input TS_*.mrc --out-dir restored/
    tomorestore restore --model dewedge.ckpt --even e1.mrc e2.mrc --odd o1.mrc o2.mrc \\
        --tilt-angles TS_1.tlt TS_2.tlt --out-dir restored/
    tomorestore restore --model model.ckpt --input TS_*.mrc --out-dir restored/ \\
        --device cuda:0,cuda:1        # the files spread over two GPUs, one worker each

Every input is checked before anything is written (exit status 2 on a problem). With
``--out-dir`` each result is ``<name>_restored.mrc`` (the even half's name for a pair) and
results that exist are skipped unless ``--overwrite``. A file that fails during the run does
not stop the others; the failures are listed at the end and the exit status is 1. Outputs
are written atomically and accumulated on disk, so memory stays bounded for any size.
``--device`` takes a comma list: one worker per entry, each with its own copy of the model,
takes the next file not yet taken (see :mod:`tomorestore.training.device_workers`).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..inference.tiling import DEFAULT_OVERLAP
from .restore_jobs import OUTPUT_SUFFIX, RestoreJob, plan_jobs
from .run_options import add_run_options


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``restore`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "restore",
        help="restore tomograms with a trained model (tiled, any size, whole data sets)",
        description=(
            "Restore tomograms or even/odd pairs tile by tile with a checkpoint written by "
            "'tomorestore train'. Outputs are float32 MRC with the input's voxel size and "
            "origin, in the input's intensity units. Every input is checked before anything "
            "is written; a file that fails during the run does not stop the others (exit "
            "status 1, failures listed at the end)."
        ),
    )
    parser.add_argument(
        "--model", required=True, type=Path, metavar="model.ckpt", help="trained checkpoint"
    )
    group = parser.add_argument_group("input (tomograms, or even/odd halves)")
    group.add_argument("--input", nargs="+", type=Path, metavar="T.mrc", help="tomograms")
    group.add_argument("--even", nargs="+", type=Path, metavar="E.mrc", help="even half tomograms")
    group.add_argument(
        "--odd",
        nargs="+",
        type=Path,
        metavar="O.mrc",
        help="odd half tomograms, in the order of --even",
    )
    output = parser.add_argument_group("output (one of)")
    output.add_argument(
        "--out", type=Path, metavar="restored.mrc", help="MRC file to write (one input only)"
    )
    output.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help=f"folder for <name>{OUTPUT_SUFFIX} per input (created if missing)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="with --out-dir: restore again inputs whose output exists (default: skip them)",
    )
    wedge = parser.add_argument_group(
        "tilt range of these tomograms (dewedge/ei; default: the model's)"
    )
    wedge.add_argument(
        "--tilt-range",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help="tilt range in degrees, the same for every input",
    )
    wedge.add_argument(
        "--tilt-angles",
        nargs="+",
        type=Path,
        metavar="F.tlt",
        help="IMOD .tlt/.rawtlt or SerialEM .mdoc: one file for all inputs or one per input",
    )
    wedge.add_argument(
        "--tilt-axis",
        type=str.upper,
        choices=("Y", "X"),
        help="tilt axis: Y (the second array axis) or X (default: the model's)",
    )
    parser.add_argument(
        "--tile",
        type=int,
        metavar="T",
        help="largest tile edge in voxels (default 128; on a GPU lowered to fit its free memory)",
    )
    parser.add_argument(
        "--overlap",
        type=float,
        default=DEFAULT_OVERLAP,
        metavar="F",
        help=f"fraction of a tile shared with each neighbour, in [0, 1) ({DEFAULT_OVERLAP:g})",
    )
    add_run_options(parser, device_list=True)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check everything, restore each job, print summaries; return the exit status.

    Returns
    -------
    int
        0 when every job was restored or skipped, 1 when some failed.

    Raises
    ------
    InputError
        Before anything is written, for any problem with the command line, the model or
        an input file (the caller exits with status 2).
    """
    if not 0.0 <= args.overlap < 1.0:
        raise InputError(
            f"--overlap must be in [0, 1), got {args.overlap:g}; e.g. {DEFAULT_OVERLAP:g}"
        )
    if args.tile is not None and args.tile < 1:
        raise InputError(f"--tile must be a positive number of voxels, got {args.tile}")
    jobs = plan_jobs(args)
    from ..api import load_model

    model = load_model(args.model)
    devices = _check_settings(model, args)
    wedges = [_job_wedge(model, args, job) for job in jobs]
    todo = [
        (job, wedge)
        for job, wedge in zip(jobs, wedges, strict=True)
        if args.out is not None or args.overwrite or not job.output.exists()
    ]
    skipped = len(jobs) - len(todo)
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    return _restore_all(model, args, devices, todo, skipped)


def _check_settings(model: Any, args: argparse.Namespace) -> list[Any]:
    """The devices (one worker each) exist and the tile suits the model's network."""
    from ..training.device_workers import parse_devices

    devices = parse_devices(args.device)
    network = model.config.network
    if args.tile is not None and network is not None and args.tile < 2 * network.divisor:
        raise InputError(
            f"--tile {args.tile} is too small for this model's network: use at least "
            f"{2 * network.divisor} voxels (default: 128)."
        )
    return devices


def _job_wedge(model: Any, args: argparse.Namespace, job: RestoreJob) -> dict[str, Any]:
    """The tilt settings of one job for ``api.restore``, checked against the model."""
    from ..api import restore_wedge

    settings = {
        "tilt_range": None if args.tilt_range is None else tuple(args.tilt_range),
        "tilt_angles": job.tilt_angles,
        "tilt_axis": args.tilt_axis,
    }
    flags = {"tilt_range": "--tilt-range", "tilt_angles": "--tilt-angles"}
    try:
        restore_wedge(model, **settings)
    except InputError as err:
        given = [flag for name, flag in flags.items() if settings[name] is not None]
        raise InputError(f"{' '.join(given) or '--tilt-axis'}: {err}") from err
    return settings


def _restore_all(
    model: Any,
    args: argparse.Namespace,
    devices: list[Any],
    todo: list[tuple[RestoreJob, dict]],
    skipped: int,
) -> int:
    """Restore the jobs, one worker per device (each with its own copy of the model)."""
    from ..training.batch_progress import BatchProgress
    from ..training.device_workers import Outcome, run_on_devices
    from ..training.progress import format_duration

    start = time.perf_counter()
    workers = devices[: max(len(todo), 1)]
    replicas = [model] + [copy.deepcopy(model) for _ in workers[1:]]
    several = len(workers) > 1
    progress = BatchProgress(len(todo), enabled=not args.quiet and bool(todo))
    if skipped:
        progress.write(
            f"skipped {skipped} already done (in {args.out_dir}; --overwrite restores them again)"
        )
    if args.tile is None and todo:
        from ..training.restoring import default_restore_tile

        tiles = ", ".join(f"{default_restore_tile(model, d)} on {d}" for d in workers)
        progress.write(f"tile {tiles} (the default for the device; --tile to change)",
                       stream=sys.stderr)  # fmt: skip

    def work(
        replica: Any, item: tuple[RestoreJob, dict], device: Any, should_stop: Any
    ) -> tuple[Any, float]:
        return _restore_job(replica, args, item, device, progress, should_stop)

    def report(outcome: Outcome) -> None:
        job = outcome.item[0]
        if outcome.error is not None:
            message = f"failed {job.shown_inputs}: {_describe(outcome.error)}"
            progress.write(message, stream=sys.stderr)
        else:
            volume, seconds = outcome.result
            shown = outcome.device if several else None
            progress.write(_summary(model, volume, job, seconds, shown))

    try:
        outcomes = run_on_devices(todo, workers, work, replicas=replicas, on_outcome=report)
    finally:
        progress.close()
    failures = [(o.item[0], _describe(o.error)) for o in outcomes if o.error is not None]
    done = len(todo) - len(failures)
    on = f" on {len(workers)} workers ({', '.join(map(str, workers))})" if several else ""
    if len(todo) + skipped > 1 or failures:
        print(
            f"restored {done} of {len(todo) + skipped} with {model.method_name}{on} in "
            f"{format_duration(time.perf_counter() - start)}"
            + (f", skipped {skipped} already done" if skipped else "")
            + (f", {len(failures)} failed:" if failures else "")
        )
    for job, message in failures:
        print(f"  {job.shown_inputs}: {message}", file=sys.stderr)
    return 1 if failures else 0


def _restore_job(
    model: Any,
    args: argparse.Namespace,
    item: tuple[RestoreJob, dict],
    device: Any,
    progress: Any,
    should_stop: Any,
) -> tuple[Any, float]:
    """Restore one job on ``device``; returns the written volume and the seconds taken."""
    from ..api import restore

    job, wedge = item
    began = time.perf_counter()
    with progress.file(job.name) as tiles:
        volume = restore(
            model,
            **_inputs(job),
            out=job.output,
            tile=args.tile,
            overlap=args.overlap,
            device=device,
            progress=tiles or False,
            should_stop=should_stop,
            **wedge,
        )
    return volume, time.perf_counter() - began


def _inputs(job: RestoreJob) -> dict[str, Path]:
    if len(job.inputs) == 1:
        return {"input": job.inputs[0]}
    return {"even": job.inputs[0], "odd": job.inputs[1]}


def _describe(err: BaseException) -> str:
    """An error as one line: the message of ours, type and message of others."""
    if isinstance(err, InputError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _summary(model: Any, volume: Any, job: RestoreJob, seconds: float, device: Any = None) -> str:
    from ..training.progress import format_duration

    shape = "x".join(str(n) for n in volume.shape)
    voxel = "x".join(f"{v:g}" for v in volume.voxel_size)
    where = "" if device is None else f" on {device}"
    return (
        f"restored {shape} with {model.method_name} (step {model.step}){where} in "
        f"{format_duration(seconds)}, voxel {voxel} Å -> {job.output}"
    )

"""``tomorestore train``: train a self-supervised restoration model, write a checkpoint.

Examples::

    tomorestore train --method dewedge --even even.mrc --odd odd.mrc --tilt-range -60 60 \\
        --out model.ckpt
    tomorestore train --method n2v --input tomo.mrc --steps 2000 --out n2v.ckpt
    tomorestore train --nproc 4 --device cuda --method n2n --even e*.mrc --odd o*.mrc ...
    torchrun --nproc_per_node 4 -m tomorestore -- train --device cuda ...

Ctrl-C (or a SIGTERM, as a cluster's time limit sends) stops cleanly: the checkpoint is
written and ``--resume model.ckpt`` continues. Under torchrun every process trains (torch
DDP, ``--batch`` per process); rank 0 alone prints and writes.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..methods import get_method, method_names
from .method_options import add_method_parameter_flags, method_help, method_parameters
from .run_options import add_run_options


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The tomograms to train on: ``--input``, ``--even``/``--odd`` lists or ``--dataset``."""
    group = parser.add_argument_group(
        "input (one tomogram or even/odd pair; or a data set: several, or a table)"
    )
    group.add_argument(
        "--input", type=Path, nargs="+", metavar="T.mrc", help="one or more tomograms"
    )
    group.add_argument(
        "--even", type=Path, nargs="+", metavar="E.mrc", help="even half tomogram(s)"
    )
    group.add_argument(
        "--odd", type=Path, nargs="+", metavar="O.mrc",
        help="odd half tomogram(s), matched to --even by position",
    )  # fmt: skip
    group.add_argument(
        "--dataset", type=Path, metavar="SET.yaml",
        help="a data-set table (YAML or CSV): one row per tomogram with input or even/odd, "
        "and tilt_range (or tilt_min/tilt_max) or tilt_angles",
    )  # fmt: skip
    add_run_options(parser)


def check_inputs(args: argparse.Namespace) -> None:
    """A tomogram, an even/odd pair, lists of them, or a table; every file must exist."""
    if args.dataset is not None:
        if args.input or args.even or args.odd:
            raise InputError("give --dataset or --input/--even/--odd, not both.")
        if not args.dataset.is_file():
            raise InputError(f"--dataset {args.dataset}: no such file.")
        return
    if args.input and (args.even or args.odd):
        raise InputError("give either --input or --even and --odd, not both.")
    if not args.input and not (args.even or args.odd):
        raise InputError("no tomogram given: use --input T.mrc, or --even E.mrc --odd O.mrc.")
    if not args.input and len(args.even or []) != len(args.odd or []):
        raise InputError(
            f"{len(args.even or [])} --even and {len(args.odd or [])} --odd files: even/odd "
            "halves come in pairs, matched by position."
        )
    for flag in ("input", "even", "odd", "tilt_angles"):
        for path in getattr(args, flag, None) or []:
            if not path.is_file():
                raise InputError(f"--{flag.replace('_', '-')} {path}: no such file.")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to ``subparsers``."""
    names = method_names()
    wedge_methods = ", ".join(n for n in names if get_method(n).needs_wedge)
    parser = subparsers.add_parser(
        "train",
        help=f"train a self-supervised restoration model ({', '.join(names)})",
        description=(
            f"Train a network to restore a tomogram ({method_help()}) and write two "
            "checkpoints: --out model.ckpt with the weights to restore with (the lowest "
            "validation loss) and model.last.ckpt beside it with the last state, which "
            "--resume model.ckpt continues. Unset options take the --config file's values, "
            "else the method's defaults. Ctrl-C saves the checkpoints and stops."
        ),
    )
    parser.add_argument(
        "--method",
        choices=names,
        help=f"{method_help()} (default: the --config file's method)",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--tilt-range",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help=f"tilt range in degrees, -90 < MIN < MAX < 90 (needed by {wedge_methods})",
    )
    parser.add_argument(
        "--tilt-angles",
        type=Path,
        nargs="+",
        metavar="TLT",
        help="IMOD .tlt/.rawtlt or SerialEM .mdoc file(s) instead of --tilt-range: one for "
        "all tomograms or one per tomogram; their min and max are the tilt range",
    )
    parser.add_argument(
        "--tilt-axis",
        type=str.upper,
        choices=("Y", "X"),
        help="tilt axis of the tilt series: Y (the second array axis, default) or X",
    )
    parser.add_argument(
        "--steps", type=int, metavar="N", help="optimiser steps (default: the method's)"
    )
    parser.add_argument(
        "--patch", type=int, metavar="P", help="training patch edge, voxels (default: the method's)"
    )
    parser.add_argument(
        "--batch", type=int, metavar="B", help="patches per step (default: the method's)"
    )
    parser.add_argument(
        "--lr", type=float, metavar="LR", help="peak learning rate (default: the method's)"
    )
    parser.add_argument("--seed", type=int, metavar="S", help="random seed (default 0)")
    parser.add_argument("--mask", type=Path, metavar="M.mrc", help="where to sample (non-zero)")
    parser.add_argument(
        "--resume", type=Path, metavar="CKPT",
        help="continue a run from its checkpoint (reads CKPT's .last file when there is one)",
    )  # fmt: skip
    parser.add_argument(
        "--init", type=Path, metavar="CKPT",
        help="fine-tune: start from this trained model (same method and network) on new data",
    )  # fmt: skip
    parser.add_argument("--config", type=Path, metavar="cfg.yaml", help="YAML configuration")
    parser.add_argument(
        "--nproc", type=int, metavar="N",
        help="train on N processes (torch DDP through torchrun; one per GPU with --device "
        "cuda, gloo on the CPU); --batch is per process",
    )  # fmt: skip
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="model.ckpt",
        help="checkpoint to write (the last state goes to model.last.ckpt beside it)",
    )
    add_method_parameter_flags(parser)
    parser.set_defaults(func=run)
    return parser


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[threading.Event]:
    """First Ctrl-C or SIGTERM sets the returned event (clean stop); a second interrupts."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            "\ntomorestore train: stopping after this step and saving the checkpoint "
            "(Ctrl-C again to abort)",
            file=sys.stderr,
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def run(args: argparse.Namespace) -> int:
    """Train; print a one-line summary; 0 on success, 130 when stopped with Ctrl-C."""
    check_inputs(args)
    if args.nproc is not None:
        from .torchrun_launch import check_nproc, run_with_torchrun

        check_nproc(args.nproc, args.device)
        if args.nproc > 1:
            return run_with_torchrun(args.argv, args.nproc)
    from ..api import build_config, train
    from ..training.checkpoint import last_checkpoint_path
    from ..training.distributed import is_main_process
    from ..training.progress import TrainProgress, format_duration

    if args.method is None and args.config is None:
        raise InputError(f"choose a method: --method {{{','.join(method_names())}}}.")
    if args.tilt_range is not None and args.tilt_angles:
        raise InputError("give --tilt-range or --tilt-angles, not both.")
    config = build_config(
        args.method,
        config=args.config,
        tilt_range=args.tilt_range,
        tilt_axis=None if args.tilt_angles else args.tilt_axis,
        steps=args.steps,
        batch_size=args.batch,
        patch_size=args.patch,
        learning_rate=args.lr,
        device=args.device,
        seed=args.seed,
    )
    params = method_parameters(args, config.method)
    if params:
        config = build_config(config.method, config=config, method_params=params)
    method = config.method
    several = args.dataset is not None or len(args.input or args.even or []) > 1
    problem = get_method(method).input_problem(
        n_halves=1 if args.input else 2,
        has_wedge=True,  # without a range or tilt-angle file it is estimated from the data
        advice={"halves": "give --even E.mrc --odd O.mrc"},
    )
    if problem and args.dataset is None:
        raise InputError(f"{problem}.")
    data: dict[str, Any]
    if several or args.tilt_angles:
        data = {"inputs": args.input, "evens": args.even, "odds": args.odd,
                "dataset": args.dataset, "tilt_angles": args.tilt_angles,
                "tilt_axis": args.tilt_axis}  # fmt: skip
    else:
        data = {"input": (args.input or [None])[0], "even": (args.even or [None])[0],
                "odd": (args.odd or [None])[0]}  # fmt: skip
    main_process = is_main_process()
    tracker = TrainProgress(enabled=not args.quiet, desc=f"training {method}", verbose=main_process)
    with stop_on_interrupt() as stop:
        try:
            model = train(
                method,
                **data,
                mask=args.mask,
                out=args.out,
                resume_from=args.resume,
                init=args.init,
                config=config,
                progress=tracker,
                should_stop=stop.is_set,
            )
        finally:
            tracker.close()
    if not main_process:  # rank 0 of a DDP run reports
        return 130 if stop.is_set() else 0
    last = last_checkpoint_path(args.out)
    summary = (
        f"trained {method} for {tracker.steps_done} steps in "
        f"{format_duration(tracker.elapsed)} on {tracker.where}, "
        f"final loss {model.history.recent_loss():.4g}"
    )
    if model.history.val_losses:
        summary += f", val {model.history.last_val_loss:.4g}"
    if model.best_step is not None:
        weights = f"weights of step {model.best_step} (lowest val loss)"
    else:
        weights = f"weights of step {model.step} (the last)"
    files = (
        f"{args.out} ({weights}); last state with optimiser (step {tracker.last_step}) -> {last}"
    )
    if stop.is_set():
        print(
            f"tomorestore train: stopped at step {tracker.last_step} of {model.config.steps}; "
            f"{summary} -> {files} (continue with --resume {args.out})"
        )
        return 130
    print(f"{summary} -> {files}")
    return 0

"""``tomorestore train``: train a self-supervised restoration model, write a checkpoint.

Examples::

    tomorestore train --method dewedge --even even.mrc --odd odd.mrc --tilt-range -60 60 \\
        --out model.ckpt
    tomorestore train --method n2v --input tomo.mrc --steps 2000 --out n2v.ckpt

Ctrl-C stops cleanly: the checkpoint is written and ``--resume model.ckpt`` continues.
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

METHOD_CHOICES = ("n2v", "n2n", "dewedge", "ei")
#: Methods that cannot train on a single tomogram (mirrors ``Method.accepts_single``).
HALVES_ONLY = ("n2n", "dewedge")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """``--input`` or ``--even``/``--odd`` (shared by train and restore)."""
    group = parser.add_argument_group("input (one tomogram, or even/odd halves)")
    group.add_argument("--input", type=Path, metavar="T.mrc", help="one tomogram")
    group.add_argument("--even", type=Path, metavar="E.mrc", help="even half tomogram")
    group.add_argument("--odd", type=Path, metavar="O.mrc", help="odd half tomogram")
    parser.add_argument(
        "--device",
        default=None,
        metavar="DEV",
        help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:1, mps",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar (the summary is still printed)"
    )


def check_inputs(args: argparse.Namespace) -> None:
    """Exactly one of ``--input`` or ``--even`` + ``--odd``; files must exist."""
    if args.input is not None and (args.even is not None or args.odd is not None):
        raise InputError("give either --input or --even and --odd, not both.")
    if args.input is None and (args.even is None or args.odd is None):
        if args.even is None and args.odd is None:
            raise InputError("no tomogram given: use --input T.mrc, or --even E.mrc --odd O.mrc.")
        missing = "--odd" if args.odd is None else "--even"
        raise InputError(f"{missing} is missing: even/odd halves come in pairs.")
    for flag in ("input", "even", "odd"):
        path = getattr(args, flag)
        if path is not None and not path.is_file():
            raise InputError(f"--{flag} {path}: no such file.")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "train",
        help="train a self-supervised restoration model (n2v, n2n, dewedge, ei)",
        description=(
            "Train a network to denoise (n2v: one tomogram; n2n: even/odd halves) or to "
            "denoise and fill the missing wedge (dewedge: halves; ei: one tomogram or "
            "halves) and write a checkpoint that 'tomorestore restore' uses. Unset budget "
            "options take the method's defaults. Ctrl-C saves the checkpoint and stops."
        ),
    )
    parser.add_argument(
        "--method",
        required=True,
        choices=METHOD_CHOICES,
        help="n2v (one tomogram), n2n (even/odd), dewedge (even/odd + tilt range), ei (tilt range)",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--tilt-range",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help="tilt range in degrees, -90 < MIN < MAX < 90 (needed by dewedge and ei)",
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
    parser.add_argument("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint")
    parser.add_argument("--config", type=Path, metavar="cfg.yaml", help="YAML configuration")
    parser.add_argument(
        "--out", required=True, type=Path, metavar="model.ckpt", help="checkpoint to write"
    )
    parser.set_defaults(func=run)
    return parser


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[threading.Event]:
    """First Ctrl-C sets the returned event (clean stop); a second one interrupts at once."""
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

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> int:
    """Train; print a one-line summary; 0 on success, 130 when stopped with Ctrl-C."""
    check_inputs(args)
    if args.method in HALVES_ONLY and args.input is not None:
        raise InputError(f"{args.method} needs even/odd half tomograms: give --even and --odd.")
    from ..api import build_config, train
    from .progress import TrainProgress, format_duration

    config = build_config(
        args.method,
        config=args.config,
        tilt_range=args.tilt_range,
        steps=args.steps,
        batch_size=args.batch,
        patch_size=args.patch,
        learning_rate=args.lr,
        device=args.device,
        seed=args.seed,
    )
    tracker = TrainProgress(enabled=not args.quiet, desc=f"training {args.method}")
    with stop_on_interrupt() as stop:
        try:
            model = train(
                args.method,
                input=args.input,
                even=args.even,
                odd=args.odd,
                mask=args.mask,
                out=args.out,
                resume_from=args.resume,
                config=config,
                progress=tracker,
                should_stop=stop.is_set,
            )
        finally:
            tracker.close()
    summary = (
        f"trained {args.method} for {tracker.steps_done} steps in "
        f"{format_duration(tracker.elapsed)} on {tracker.device}, "
        f"final loss {model.history.recent_loss():.4g}"
    )
    if model.history.val_losses:
        summary += f", val {model.history.last_val_loss:.4g}"
    if tracker.best_step is not None and tracker.best_step != model.step:
        summary += f", kept the weights of step {tracker.best_step} (lowest val loss)"
    if stop.is_set():
        print(
            f"tomorestore train: stopped at step {model.step} of {model.config.steps}; "
            f"{summary} -> {args.out} (continue with --resume {args.out})"
        )
        return 130
    print(f"{summary} -> {args.out}")
    return 0

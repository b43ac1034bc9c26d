"""Options every working sub-command shares: the compute device and quiet progress."""

from __future__ import annotations

import argparse


def add_run_options(parser: argparse.ArgumentParser, *, device_list: bool = False) -> None:
    """``--device DEV`` and ``--quiet``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser.
    device_list : bool
        The command takes a comma list of devices, one worker each (``restore``).
    """
    devices = "auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:1, mps"
    if device_list:
        devices += (
            "; or a comma list, one worker per entry, the files spread over them: "
            "cuda:0,cuda:1 (a repeat such as cpu,cpu gives two workers on one device)"
        )
    parser.add_argument(
        "--device",
        default=None,
        metavar="DEV[,DEV...]" if device_list else "DEV",
        help=devices,
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars (summaries are still printed)"
    )

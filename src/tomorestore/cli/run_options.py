"""Options every working sub-command shares: the compute device and quiet progress."""

from __future__ import annotations

import argparse


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device DEV`` and ``--quiet``."""
    parser.add_argument(
        "--device",
        default=None,
        metavar="DEV",
        help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:1, mps",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars (summaries are still printed)"
    )

"""The ``tomorestore`` command line.

Each sub-command lives in its own module under :mod:`tomorestore.cli` and exposes
``register(subparsers)`` (adds its parser, sets ``func``) and a ``run(args) -> int``.
Heavy imports happen inside ``run`` so that ``tomorestore --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import Cancelled, InputError

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = ("simulate", "train", "restore", "wedge", "demo")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="tomorestore",
        description=(
            "Self-supervised denoising and missing-wedge restoration of cryo-electron "
            "tomograms. Arrays are (Z, Y, X); Z is the beam axis, Y the tilt axis."
        ),
    )
    parser.add_argument("--version", action="version", version=f"tomorestore {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # torchrun … -m tomorestore -- train …
        argv = argv[1:]
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        from ..training.distributed import is_main_process

        if is_main_process():  # the other ranks of a DDP run hit the same error
            print(f"tomorestore {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Cancelled:
        print(f"tomorestore {args.command}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"tomorestore {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

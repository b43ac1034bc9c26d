"""``tomorestore train --nproc N``: start the same command on N processes through torchrun.

It runs ``python -m torch.distributed.run --standalone --nproc_per_node N -m tomorestore --
train …`` (the ``--`` keeps torchrun from reading ``--even`` as one of its own options) and
waits for it. A first Ctrl-C reaches every process from the terminal: they stop together
after the step, rank 0 writes the checkpoints.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from ..training.distributed import launched_by_torchrun


def without_option(argv: Sequence[str], option: str) -> list[str]:
    """``argv`` without ``option VALUE`` / ``option=VALUE`` (every occurrence)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(f"{option}="):
            kept.append(arg)
    return kept


def torchrun_command(argv: Sequence[str], nproc: int) -> list[str]:
    """The torchrun command line that runs ``tomorestore <argv>`` on ``nproc`` processes."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", str(nproc), "-m", "tomorestore", "--", *argv,
    ]  # fmt: skip


def check_nproc(nproc: int, device: str | None) -> None:
    """A process count this machine can run, not nested in another torchrun."""
    if nproc < 1:
        raise InputError(f"--nproc {nproc}: give at least 1 process.")
    if launched_by_torchrun():
        raise InputError(
            "--nproc inside a torchrun job: torchrun already started the processes; drop "
            "--nproc (or run tomorestore train --nproc N without torchrun)."
        )
    name = str(device or "auto").lower()
    if name.startswith(("cuda", "gpu")) or name == "auto":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if name != "auto" and nproc > count:
            raise InputError(
                f"--nproc {nproc} on --device {name}: this machine has {count} CUDA "
                f"device(s); use --nproc <= {count} (one process per GPU)."
            )
        if name == "auto" and 0 < count < nproc:
            raise InputError(
                f"--nproc {nproc}: this machine has {count} GPU(s); use --nproc <= {count}, "
                "or --device cpu for CPU processes."
            )


def run_with_torchrun(argv: Sequence[str], nproc: int) -> int:
    """Run ``tomorestore <argv>`` (``--nproc`` removed) on ``nproc`` processes; its status."""
    command = torchrun_command(without_option(argv, "--nproc"), nproc)
    print(f"tomorestore train: starting {nproc} processes: {' '.join(command[1:])}",
          file=sys.stderr)  # fmt: skip

    def keep_waiting(signum: int, frame: Any) -> None:
        """The children got the Ctrl-C too and stop cleanly; wait for them."""

    previous = signal.signal(signal.SIGINT, keep_waiting)
    try:
        with subprocess.Popen(command) as process:
            return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)

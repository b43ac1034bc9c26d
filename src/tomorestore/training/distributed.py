"""Training on several processes with torch DistributedDataParallel (launched by torchrun).

``torchrun --nproc_per_node N -m tomorestore -- train …`` starts N copies of the command;
torchrun tells each its place through the environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). :func:`process_group` reads it, joins the
process group (NCCL on CUDA, gloo on the CPU) and says which process this is. Every process
trains the same network on its own sub-tomograms (DDP averages the gradients); rank 0 alone
validates, writes checkpoints and prints. The scalars all ranks must agree on (stop, the
step's loss) go through :meth:`ProcessGroup.any` and :meth:`ProcessGroup.mean`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

#: Environment variables torchrun sets for every process.
TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the training processes.

    Attributes
    ----------
    size : int
        Number of processes (1: a plain, single-process run).
    rank : int
        This process's number, 0 … size − 1; rank 0 writes and prints.
    local_rank : int
        Its number on this machine (the CUDA device it uses).
    backend : str
        ``"nccl"``, ``"gloo"`` or ``""`` for a single process.
    """

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str = ""

    @property
    def several(self) -> bool:
        """True when more than one process trains."""
        return self.size > 1

    @property
    def joined(self) -> bool:
        """True in a torchrun job (even of one process): the network trains through DDP."""
        return bool(self.backend)

    @property
    def is_main(self) -> bool:
        """True on the process that validates, writes checkpoints and prints."""
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is True on any (e.g. a stop request)."""
        if not self.several:
            return bool(flag)
        return self._reduce(1.0 if flag else 0.0, "max") > 0.0

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the processes (the same on all of them)."""
        if not self.several:
            return float(value)
        return self._reduce(float(value), "sum") / self.size

    def broadcast_module(self, module: Any) -> None:
        """Give every process rank 0's weights and buffers of ``module`` (in place)."""
        if not self.several:
            return
        import torch.distributed as dist

        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)

    def _reduce(self, value: float, op: str) -> float:
        import torch
        import torch.distributed as dist

        device = f"cuda:{self.local_rank}" if self.backend == "nccl" else "cpu"
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return float(tensor.item())

    def describe(self, batch_size: int) -> str:
        """A note for the user: processes, backend, per-process and global batch."""
        processes = f"{self.size} process{'es' if self.size > 1 else ''}"
        return (
            f"{processes} ({self.backend}): batch {batch_size} per process, "
            f"global batch {self.size * batch_size}"
        )


def is_main_process() -> bool:
    """False on the ranks other than 0 of a torchrun job (they neither print nor write)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def launched_by_torchrun() -> bool:
    """True when the environment says torchrun started this process (one or several)."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return True
    return "WORLD_SIZE" in os.environ and (
        "LOCAL_RANK" in os.environ or "TORCHELASTIC_RUN_ID" in os.environ
    )


def process_device(device: Any, group: ProcessGroup) -> Any:
    """The device this process trains on: ``cuda:LOCAL_RANK`` for a CUDA run.

    Raises
    ------
    InputError
        When this machine has no GPU for the process's local rank.
    """
    import torch

    if not group.several or device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if group.local_rank >= count:
        raise InputError(
            f"process {group.local_rank} on this machine has no GPU ({count} found): start "
            f"at most {count} processes per machine (--nproc_per_node / --nproc)."
        )
    return torch.device(f"cuda:{group.local_rank}")


def check_device_choice(requested: Any, group: ProcessGroup) -> None:
    """Several processes cannot all train on one numbered CUDA device (``cuda:1``)."""
    name = str(requested or "auto").strip().lower()
    if group.several and name.startswith("cuda:"):
        raise InputError(
            f"--device {name} with {group.size} processes: give --device cuda; each process "
            "uses the GPU of its local rank (cuda:LOCAL_RANK)."
        )


@contextmanager
def process_group(device_type: str) -> Iterator[ProcessGroup]:
    """Join the torchrun process group for this run, and leave it afterwards.

    Without torchrun's environment (or with one process) this yields a single-process
    :class:`ProcessGroup` and touches nothing. A group that is already initialised (a
    script launched by torchrun that set it up itself) is used as it is and left alone.

    Parameters
    ----------
    device_type : str
        ``"cuda"`` joins with NCCL, anything else with gloo.
    """
    if not launched_by_torchrun():
        yield ProcessGroup()
        return
    import torch
    import torch.distributed as dist

    missing = [name for name in (*TORCHRUN_VARIABLES, "MASTER_ADDR", "MASTER_PORT")
               if name not in os.environ]  # fmt: skip
    if missing:
        raise InputError(
            f"WORLD_SIZE is set but {', '.join(missing)} is not: start several processes with "
            "torchrun (torchrun --nproc_per_node N -m tomorestore -- train …) or "
            "tomorestore train --nproc N."
        )
    owned = not dist.is_initialized()
    backend = "nccl" if device_type == "cuda" else "gloo"
    local_rank = int(os.environ["LOCAL_RANK"])
    if owned:
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    group = ProcessGroup(
        size=dist.get_world_size(),
        rank=dist.get_rank(),
        local_rank=local_rank,
        backend=str(dist.get_backend()),
    )
    completed = False
    try:
        yield group
        completed = True
    finally:
        if owned and dist.is_initialized():
            _leave(dist, wait_for_all=completed)


def _leave(dist: Any, wait_for_all: bool) -> None:
    """Leave the process group so that no rank aborts on its way out.

    The DDP wrapper's reducer keeps the gloo group (and its threads) alive; if it is freed
    only at interpreter exit, torch 2.13 can die there with "terminate called without an
    active exception" (SIGABRT; with two ranks on a loaded CPU, 2 of 21 CLI runs and 10 of
    40 runs of a bare DDP script; 0 of 45 CLI runs after these steps). So
    the garbage that holds it goes first, the ranks meet (after a run that ended normally:
    rank 0 has written its checkpoint), and the group's threads are joined while Python
    still runs.
    """
    import gc

    gc.collect()
    if wait_for_all:
        dist.barrier()
    dist.destroy_process_group()
    gc.collect()


def wrap_network(network: Any, device: Any, group: ProcessGroup) -> Any:
    """``network`` wrapped in DistributedDataParallel when several processes train.

    Buffers are not broadcast at every forward (the U-Nets keep no running statistics),
    so rank 0 may run validation and previews through the bare network alone.
    """
    if not group.joined:
        return network
    from torch.nn.parallel import DistributedDataParallel

    from ..models import find_staged

    ids = [device.index] if device.type == "cuda" else None
    # torch >= 2.13 renamed broadcast_buffers (deprecated there) to forward_sync_buffers
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers" if newer else "broadcast_buffers": False}
    # a staged network (ei's denoise_first) trains one of its two U-Nets at a time
    unused = find_staged(network) is not None
    return DistributedDataParallel(
        network, device_ids=ids, find_unused_parameters=unused, **no_sync
    )

"""GPU check (issue 11): training speed, tiled restore, OOM retry, tile choice and DDP.

One short script for a machine with a CUDA GPU (a few minutes on an H100/H200). Sections:

- ``environment``: Python, torch, CUDA, the GPU, bf16 support, where tomorestore comes
  from, and which of its dependencies are missing here (with the way to carry them).
- ``auto_tile``: the restore tile chosen from the GPU's free memory (what ``tomorestore
  restore`` uses when no ``--tile`` is given) and the memory estimate behind it.
- ``train_steps``: U-Net training steps (forward, backward, Adam) with bf16 autocast and
  ``channels_last_3d``, steps/s at batch 4 x 64³ and 8 x 96³, peak GPU memory.
- ``restore``: tiled restore of a 256 x 1024 x 1024 volume at the automatic tile: voxels/s,
  peak GPU memory against the estimate.
- ``oom_retry``: a real out-of-memory error (the process capped with
  ``torch.cuda.set_per_process_memory_fraction``) on an oversized batch of tiles, and the
  retry down to a tile that fits.
- ``ddp_torchrun``: ``torchrun --standalone --nproc_per_node 1 -m tomorestore -- train
  --method n2v ...`` on a simulated tomogram, NCCL on CUDA (a one-GPU machine cannot
  measure several GPUs: NCCL refuses two ranks on one GPU); its summary line, and the
  process count and backend the checkpoint records.

Without CUDA (or with ``--cpu-smoke``) every section runs on the CPU with tiny sizes in
about a minute: the OOM is then simulated and DDP runs two processes with gloo. Each
section is guarded: one that fails prints its error and the others go on. A table of
figures is printed, then one JSON line (the last line of the output) with everything.

The GPU machine may have another Python and torch than the development machine and no
package index: run from the repository root; tomorestore is imported from ``src/`` when
it is not installed (``PYTHONPATH=src`` works too), and missing packages are listed.

Examples
--------
python benchmarks/gpu_check.py                     # CUDA if there is one, else CPU smoke
python benchmarks/gpu_check.py --cpu-smoke         # tiny sizes on the CPU (< 1 minute)
python benchmarks/gpu_check.py --sections restore,oom_retry --json-out gpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GIB = 2**30
#: Modules tomorestore imports, and the pip name of each where it differs.
DEPENDENCIES = {
    "numpy": "numpy",
    "torch": "torch",
    "scipy": "scipy",
    "mrcfile": "mrcfile",
    "skimage": "scikit-image",
    "tifffile": "tifffile",
    "pydantic": "pydantic",
    "yaml": "pyyaml",
    "tqdm": "tqdm",
}
#: The training summary's "on N processes (nccl)".
_PROCESSES = re.compile(r"(\d+) process(?:es)? \((nccl|gloo)")


@dataclass(frozen=True)
class Sizes:
    """What each section runs: the GPU sizes or tiny CPU ones."""

    network: dict[str, Any]
    train: tuple[tuple[int, int, int], ...]  # (batch, edge, timed steps)
    warmup: int
    restore_shape: tuple[int, int, int]
    oom_shape: tuple[int, int, int]
    oom_tile: int
    oom_batch: int
    oom_cap_gib: float  # CUDA: the process's memory cap
    oom_simulated_voxels: int  # CPU: a batch above this many voxels "runs out of memory"
    ddp_shape: tuple[int, int, int]
    ddp_nproc: int
    ddp_steps: int
    ddp_timeout: float
    ddp_config: dict[str, Any] | None = None


GPU_SIZES = Sizes(
    network={},  # the default network: depth 3, 32 base channels
    train=((4, 64, 30), (8, 96, 15)),
    warmup=5,
    restore_shape=(256, 1024, 1024),
    oom_shape=(256, 256, 256),
    oom_tile=256,
    oom_batch=2,
    oom_cap_gib=2.0,
    oom_simulated_voxels=0,
    ddp_shape=(64, 128, 128),
    ddp_nproc=1,  # NCCL refuses two ranks on one GPU
    ddp_steps=60,
    ddp_timeout=300.0,
)
SMOKE_SIZES = Sizes(
    network={"depth": 2, "base_channels": 8},
    train=((2, 32, 2),),
    warmup=1,
    restore_shape=(32, 64, 64),
    oom_shape=(32, 64, 64),
    oom_tile=64,
    oom_batch=2,
    oom_cap_gib=0.0,
    oom_simulated_voxels=40**3,
    ddp_shape=(32, 64, 64),
    ddp_nproc=2,  # two CPU processes, gloo
    ddp_steps=4,
    ddp_timeout=150.0,
    ddp_config={
        "network": {"depth": 2, "base_channels": 8},
        "fast": False,
        "batch_size": 2,
        "patch_size": 16,
        "validate_every": 2,
        "preview_every": 0,
        "checkpoint_every": 0,
    },
)


@dataclass
class Context:
    """What the sections share."""

    device: Any
    cuda: bool
    sizes: Sizes
    work_dir: Path
    child_env: dict[str, str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- start-up ---------------------------------------------------------------------------------
def find_tomorestore() -> str:
    """Make ``import tomorestore`` work (from ``src/`` if not installed); say from where."""
    if importlib.util.find_spec("tomorestore") is None:
        sys.path.insert(0, str(REPO / "src"))
    spec = importlib.util.find_spec("tomorestore")
    if spec is None or spec.origin is None:
        return "not found (run from the repository root or set PYTHONPATH=src)"
    return str(Path(spec.origin).parent)


def missing_dependencies() -> list[str]:
    """The pip names of tomorestore's dependencies that cannot be imported here."""
    return [pip for module, pip in DEPENDENCIES.items() if importlib.util.find_spec(module) is None]


def carry_hint(missing: list[str]) -> str:
    """How to bring missing packages to a machine without a package index."""
    names = " ".join(missing)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"missing here: {names}. Carry them as wheels: where pip works, python3 -m pip "
        f"download --no-deps --only-binary=:all: --python-version {version} --platform "
        f"manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d wheels {names} (and what "
        "they need, e.g. pydantic-core, annotated-types and typing-inspection for pydantic); "
        "here: python3 -m pip install --no-index --no-deps --target /tmp/site wheels/*.whl "
        "&& export PYTHONPATH=/tmp/site:src"
    )


def child_environment(source: str) -> dict[str, str]:
    """The environment of child processes: tomorestore importable as it is here."""
    env = dict(os.environ)
    src = str(REPO / "src")
    if source.startswith(src):
        paths = [src, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# -- helpers ----------------------------------------------------------------------------------
def synchronize(ctx: Context) -> None:
    if ctx.cuda:
        import torch

        torch.cuda.synchronize(ctx.device)


def reset_peak(ctx: Context) -> None:
    if ctx.cuda:
        import torch

        torch.cuda.synchronize(ctx.device)
        torch.cuda.reset_peak_memory_stats(ctx.device)


def peak_gib(ctx: Context) -> float | None:
    """Peak GPU memory allocated by torch since the last :func:`reset_peak` (None on CPU)."""
    if not ctx.cuda:
        return None
    import torch

    return round(torch.cuda.max_memory_allocated(ctx.device) / GIB, 3)


def release(ctx: Context) -> None:
    gc.collect()
    if ctx.cuda:
        import torch

        torch.cuda.empty_cache()


def network_config(ctx: Context) -> Any:
    from tomorestore.models import NetworkConfig

    return NetworkConfig(**ctx.sizes.network)


def build(ctx: Context) -> Any:
    import torch

    from tomorestore.models import build_network

    torch.manual_seed(0)
    return build_network(network_config(ctx))


def random_volume(shape: tuple[int, int, int]) -> Any:
    import numpy as np

    return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)


def chosen_tile(ctx: Context, *, batch_size: int = 1, fast: bool = True) -> int:
    """The tile ``tomorestore restore`` takes on this device (no --tile given)."""
    from tomorestore.inference.tile_memory import automatic_tile
    from tomorestore.training.restoration_model import default_tile

    config = network_config(ctx)
    return automatic_tile(
        default_tile(ctx.device.type),
        ctx.device,
        base_channels=config.base_channels,
        divisor=config.divisor,
        batch_size=batch_size,
        fast=fast,
    )


# -- sections ---------------------------------------------------------------------------------
def section_environment(ctx: Context) -> dict[str, Any]:
    import torch

    figures: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": str(ctx.device),
    }
    if ctx.cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        figures.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / GIB, 1),
            cuda=torch.version.cuda,
            gpus=torch.cuda.device_count(),
            bf16=torch.cuda.is_bf16_supported(),
            nccl=torch.distributed.is_available() and torch.distributed.is_nccl_available(),
        )
    return figures


def section_auto_tile(ctx: Context) -> dict[str, Any]:
    from tomorestore.inference.tile_memory import fit_tile, free_memory_bytes, tile_memory_bytes
    from tomorestore.training.restoration_model import default_tile

    config = network_config(ctx)
    tile = chosen_tile(ctx)
    free = free_memory_bytes(ctx.device)
    estimate = tile_memory_bytes(tile, base_channels=config.base_channels, divisor=config.divisor)
    gpu_default = default_tile("cuda")
    on_gpus = {
        f"{gib}GiB_free": fit_tile(
            gpu_default, gib * GIB, base_channels=config.base_channels, divisor=config.divisor
        )
        for gib in (4, 8, 24, 80)
    }
    return {
        "tile": tile,
        "tile_fp32_batch4": chosen_tile(ctx, batch_size=4, fast=False),
        "preferred": default_tile(ctx.device.type),
        "free_gib": None if free is None else round(free / GIB, 2),
        "estimate_gib": round(estimate / GIB, 3),
        "default_network_tile_when": on_gpus,
    }


def section_train_steps(ctx: Context) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from tomorestore.models import (
        autocast_context,
        bf16_supported,
        prepare_for_speed,
        to_channels_last_3d,
    )

    rows: dict[str, Any] = {}
    for batch, edge, steps in ctx.sizes.train:
        network = prepare_for_speed(build(ctx), ctx.device, channels_last=True).train()
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
        shape = (batch, 1, edge, edge, edge)
        x = to_channels_last_3d(torch.randn(shape, device=ctx.device))
        target = torch.randn(shape, device=ctx.device)

        def step(network: Any = network, optimizer: Any = optimizer, x: Any = x,
                 target: Any = target) -> Any:  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(ctx.device, True):
                y = network(x)
            loss = F.mse_loss(y.float(), target)
            loss.backward()
            optimizer.step()
            return loss

        for _ in range(ctx.sizes.warmup):
            step()
        reset_peak(ctx)
        start = time.perf_counter()
        for _ in range(steps):
            loss = step()
        synchronize(ctx)
        seconds = time.perf_counter() - start
        rows[f"{batch}x{edge}^3"] = {
            "steps_per_s": round(steps / seconds, 3),
            "voxels_per_s": round(batch * edge**3 * steps / seconds),
            "peak_gib": peak_gib(ctx),
            "loss_finite": bool(torch.isfinite(loss).item()),
        }
        del network, optimizer, x, target, loss, step
        release(ctx)
    bad = [name for name, row in rows.items() if not row["loss_finite"]]
    if bad:
        raise RuntimeError(f"non-finite training loss at {', '.join(bad)}: {rows}")
    return {"bf16": bf16_supported(ctx.device), "configs": rows}


def section_restore(ctx: Context) -> dict[str, Any]:
    import numpy as np

    from tomorestore.inference import restore_volume
    from tomorestore.inference.tile_memory import tile_memory_bytes
    from tomorestore.inference.tiling import plan_grid

    config = network_config(ctx)
    tile = chosen_tile(ctx)
    shape = ctx.sizes.restore_shape
    volume = random_volume(shape)
    network = build(ctx)
    settings = {"device": ctx.device, "fast": True, "tile": tile, "overlap": 0.25}
    warm = volume[: min(shape[0], tile), : min(shape[1], tile), : min(shape[2], tile)]
    restore_volume(network, np.ascontiguousarray(warm), **settings)
    reset_peak(ctx)
    start = time.perf_counter()
    result = restore_volume(network, volume, **settings)
    synchronize(ctx)
    seconds = time.perf_counter() - start
    grid = plan_grid(shape, (tile,) * 3, 0.25)
    estimate = tile_memory_bytes(tile, base_channels=config.base_channels, divisor=config.divisor)
    figures = {
        "shape": "x".join(map(str, shape)),
        "tile": tile,
        "tiles": len(grid),
        "seconds": round(seconds, 2),
        "voxels_per_s": round(volume.size / seconds),
        "peak_gib": peak_gib(ctx),
        "estimate_gib": round(estimate / GIB, 3),
        "finite": bool(np.isfinite(result).all()),
    }
    del volume, result, network
    release(ctx)
    if not figures["finite"]:
        raise RuntimeError(f"the restored volume has non-finite voxels: {figures}")
    return figures


def section_oom_retry(ctx: Context) -> dict[str, Any]:
    import numpy as np

    from tomorestore.inference import restore_volume

    sizes = ctx.sizes
    recorder = recording_network(build(ctx), None if ctx.cuda else sizes.oom_simulated_voxels)
    volume = random_volume(sizes.oom_shape)
    figures: dict[str, Any] = {
        "simulated": not ctx.cuda,
        "requested": f"{sizes.oom_batch} x {sizes.oom_tile}^3",
    }
    release(ctx)
    with memory_cap(ctx, sizes.oom_cap_gib) as cap:
        figures["cap_gib"] = cap
        reset_peak(ctx)
        start = time.perf_counter()
        result = restore_volume(
            recorder, volume, device=ctx.device, fast=True, tile=sizes.oom_tile,
            batch_size=sizes.oom_batch, overlap=0.25,
        )  # fmt: skip
        synchronize(ctx)
        figures["seconds"] = round(time.perf_counter() - start, 2)
        figures["peak_gib"] = peak_gib(ctx)
    succeeded = [call for call in recorder.calls if call[2] == "ok"]
    figures.update(
        out_of_memory_errors=recorder.out_of_memory,
        attempts=[f"{b} x {t}: {outcome}" for b, t, outcome in dict.fromkeys(recorder.calls)],
        final=f"{succeeded[-1][0]} x {succeeded[-1][1]}" if succeeded else None,
        finite=bool(np.isfinite(result).all()),
    )
    del volume, result, recorder
    release(ctx)
    if figures["out_of_memory_errors"] == 0:
        raise RuntimeError(
            f"no out-of-memory error at the cap ({figures['cap_gib']} GiB): the retry was not "
            f"exercised; lower the cap (--oom-cap-gib). {figures}"
        )
    if not figures["finite"]:
        raise RuntimeError(f"the retried restoration has non-finite voxels: {figures}")
    return figures


def section_ddp_torchrun(ctx: Context) -> dict[str, Any]:
    from tomorestore.io import Volume, write_volume
    from tomorestore.simulate import simulate_tomogram
    from tomorestore.training.checkpoint import load_checkpoint

    sizes = ctx.sizes
    folder = ctx.work_dir / "ddp"
    folder.mkdir(parents=True, exist_ok=True)
    sim = simulate_tomogram(sizes.ddp_shape, seed=0)
    tomogram = write_volume(folder / "T.mrc", Volume(data=sim.full, voxel_size=sim.voxel_size))
    checkpoint = folder / "m.ckpt"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", str(sizes.ddp_nproc), "-m", "tomorestore", "--", "train",
        "--method", "n2v", "--input", str(tomogram), "--steps", str(sizes.ddp_steps),
        "--device", "cuda" if ctx.cuda else "cpu", "--out", str(checkpoint), "--quiet",
    ]  # fmt: skip
    if sizes.ddp_config is not None:
        import yaml

        config = folder / "cfg.yaml"
        config.write_text(yaml.safe_dump(sizes.ddp_config))
        command += ["--config", str(config)]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=sizes.ddp_timeout,
            env=ctx.child_env, cwd=folder, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"torchrun did not finish within {sizes.ddp_timeout:g} s") from err
    lines = [line for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
    figures: dict[str, Any] = {
        "command": " ".join(["torchrun", *command[3:]]),
        "returncode": done.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "summary": next((line for line in reversed(lines) if line.startswith("trained ")), None),
    }
    if done.returncode != 0 or not checkpoint.is_file():
        # a worker's own message (e.g. "terminate called …") is above torchrun's summary
        errors = [line for line in lines if "terminate called" in line or "Error" in line]
        raise RuntimeError(
            f"torchrun exited {done.returncode} (checkpoint written: {checkpoint.is_file()}); "
            f"its errors: {' | '.join(errors[:4]) or 'none printed'}; last output: "
            f"{' | '.join(lines[-8:])}"
        )
    payload = load_checkpoint(checkpoint)
    figures.update(processes=payload.get("processes"), backend=payload.get("backend"))
    expected = "nccl" if ctx.cuda else "gloo"
    if figures["processes"] != sizes.ddp_nproc or figures["backend"] != expected:
        raise RuntimeError(
            f"the checkpoint says {figures['processes']} process(es), backend "
            f"{figures['backend']!r}; expected {sizes.ddp_nproc} with {expected!r} (a run "
            f"without a process group did not exercise DDP). Summary: {figures['summary']}"
        )
    match = _PROCESSES.search(figures["summary"] or "")
    if sizes.ddp_nproc > 1 and (match is None or match.group(2) != expected):
        raise RuntimeError(f"the summary does not say 'on N processes ({expected}': {figures}")
    return figures


def recording_network(network: Any, limit: int | None) -> Any:
    """``network`` wrapped to record each call as (batch, tile, outcome); on the CPU
    (``limit`` given) a batch above ``limit`` voxels raises a simulated out-of-memory
    error."""
    import torch

    from tomorestore.inference.oom import is_out_of_memory

    class Recorder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.calls: list[tuple[int, str, str]] = []
            self.out_of_memory = 0

        @property
        def divisor(self) -> int:
            return int(network.divisor)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            call = (int(x.shape[0]), "x".join(str(n) for n in x.shape[2:]))
            try:
                if limit is not None and x.numel() > limit:
                    raise RuntimeError(
                        f"CUDA out of memory (simulated: {x.numel()} > {limit} voxels)"
                    )
                y = self.network(x)
            except Exception as err:
                if is_out_of_memory(err):
                    self.out_of_memory += 1
                    self.calls.append((*call, "out of memory"))
                raise
            self.calls.append((*call, "ok"))
            return y

    return Recorder()


@contextlib.contextmanager
def memory_cap(ctx: Context, gib: float) -> Iterator[float | None]:
    """Cap this process's CUDA memory at ``gib`` for the block (nothing on the CPU)."""
    if not ctx.cuda:
        yield None
        return
    import torch

    total = torch.cuda.get_device_properties(ctx.device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(gib * GIB / total, 1.0), ctx.device)
    try:
        yield gib
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, ctx.device)
        release(ctx)


SECTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "environment": section_environment,
    "auto_tile": section_auto_tile,
    "train_steps": section_train_steps,
    "restore": section_restore,
    "oom_retry": section_oom_retry,
    "ddp_torchrun": section_ddp_torchrun,
}


# -- running and reporting --------------------------------------------------------------------
def run_section(name: str, ctx: Context) -> dict[str, Any]:
    """Run one section; its figures, ``status`` and ``seconds`` (errors are caught)."""
    start = time.perf_counter()
    try:
        figures = SECTIONS[name](ctx)
        status = "ok"
    except ModuleNotFoundError as err:
        figures, status = {}, f"failed: needs the package {err.name!r}, missing here"
    except Exception as err:  # noqa: BLE001 - one failing section must not stop the others
        figures, status = {}, f"failed: {type(err).__name__}: {err}"
        traceback.print_exc(file=sys.stderr)
    release_after_failure(ctx)
    return {"status": status, "seconds": round(time.perf_counter() - start, 2), **figures}


def release_after_failure(ctx: Context) -> None:
    with contextlib.suppress(Exception):
        release(ctx)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print("\n== tomorestore GPU check ==")
    for name, figures in results.items():
        print(f"\n[{name}] {figures['status']} ({figures['seconds']:.1f} s)")
        for key, value in figures.items():
            if key in ("status", "seconds"):
                continue
            if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
                for sub, row in value.items():
                    print(f"  {key} {sub:<12} {format_value(row)}")
            else:
                print(f"  {key:<26} {format_value(value)}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="tiny sizes on the CPU even with a GPU"
    )
    parser.add_argument("--device", default="cuda", help="CUDA device to check (cuda)")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--restore-shape", help="Z,Y,X of the restore section's volume")
    parser.add_argument("--oom-cap-gib", type=float, help="CUDA memory cap of oom_retry (2)")
    parser.add_argument("--ddp-nproc", type=int, help="processes of ddp_torchrun (1 on CUDA)")
    parser.add_argument("--ddp-steps", type=int, help="training steps of ddp_torchrun")
    parser.add_argument("--ddp-timeout", type=float, help="seconds before torchrun is stopped")
    parser.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    return parser.parse_args(argv)


def make_sizes(args: argparse.Namespace, cuda: bool) -> Sizes:
    sizes = GPU_SIZES if cuda else SMOKE_SIZES
    changes: dict[str, Any] = {}
    if args.restore_shape:
        changes["restore_shape"] = tuple(int(v) for v in args.restore_shape.split(","))
    if args.oom_cap_gib is not None:
        changes["oom_cap_gib"] = args.oom_cap_gib
    if args.ddp_nproc is not None:
        changes["ddp_nproc"] = args.ddp_nproc
    if args.ddp_steps is not None:
        changes["ddp_steps"] = args.ddp_steps
    if args.ddp_timeout is not None:
        changes["ddp_timeout"] = args.ddp_timeout
    return Sizes(**{**asdict(sizes), **changes})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    source = find_tomorestore()
    missing = missing_dependencies()
    print(f"tomorestore from {source}; python {platform.python_version()} at {sys.executable}")
    if missing:
        print(carry_hint(missing))
    report: dict[str, Any] = {"gpu_check": 1, "tomorestore": source, "missing": missing}
    if "torch" in missing:
        report.update(mode="none", sections={})
        print("torch is missing: nothing can be checked.")
        print(json.dumps(report))
        return 1
    import torch

    cuda = torch.cuda.is_available() and not args.cpu_smoke
    device = torch.device(args.device if cuda else "cpu")
    if cuda and device.index is None:
        device = torch.device("cuda:0")
    names = [n.strip() for n in args.sections.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"unknown sections: {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        return 2
    mode = "cuda" if cuda else "cpu-smoke"
    why = "" if cuda else (" (--cpu-smoke)" if args.cpu_smoke else " (no CUDA here)")
    print(f"mode: {mode}{why}, device {device}")
    with tempfile.TemporaryDirectory(prefix="tomorestore-gpu-check-") as work:
        ctx = Context(
            device=device,
            cuda=cuda,
            sizes=make_sizes(args, cuda),
            work_dir=Path(work),
            child_env=child_environment(source),
        )
        for name in names:
            print(f"... {name}", flush=True)
            ctx.results[name] = run_section(name, ctx)
    print_table(ctx.results)
    report.update(mode=mode, device=str(device), sections=ctx.results)
    failed = [n for n, r in ctx.results.items() if r["status"].startswith("failed")]
    report["failed"] = failed
    line = json.dumps(report, default=str)
    if args.json_out is not None:
        args.json_out.write_text(line + "\n")
    print(f"\n{len(failed)} of {len(names)} sections failed" + (f": {', '.join(failed)}"
          if failed else ""))  # fmt: skip
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

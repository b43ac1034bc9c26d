"""Training speed (steps/s) on a data set of three tomograms, with the default settings.

Writes three tomograms (default 128 x 256 x 256; even/odd pairs for n2n, single
tomograms for n2v) as MRC files, then trains each method on all three with
:func:`tomorestore.train` and its default configuration (batch, patch, network, bf16 +
channels_last, validation and preview every so many steps as they fall) for ``--warmup``
plus ``--steps`` steps, timing the :class:`~tomorestore.training.events.Step` events.

Reports the set-up time (call to the first step: reading, statistics, sampler), the
rate over the measured steps (validation and previews included, as a user sees it) and
the median step time (a plain optimiser step). The machine is shared and noisy: compare
figures from one run.

Examples
--------
python benchmarks/training_speed.py
python benchmarks/training_speed.py --methods n2n --steps 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def make_data(folder: Path, shape: tuple[int, int, int], count: int) -> dict[str, list[Path]]:
    """``count`` even/odd pairs and their sums (noise on a smooth signal) as MRC files."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    from tomorestore.io import Volume, write_volume

    rng = np.random.default_rng(0)
    files: dict[str, list[Path]] = {"even": [], "odd": [], "input": []}
    for index in range(count):
        signal = gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 2.0) * 5.0
        halves = [signal + rng.standard_normal(shape, dtype=np.float32) for _ in range(2)]
        for name, data in (("even", halves[0]), ("odd", halves[1]), ("input", sum(halves))):
            path = folder / f"{name}{index}.mrc"
            files[name].append(write_volume(path, Volume(data.astype(np.float32), voxel_size=10.0)))
    return files


def time_training(method: str, files: dict[str, list[Path]], warmup: int, steps: int) -> dict:
    """Train ``method`` for ``warmup + steps`` steps; return the timing figures."""
    import tomorestore
    from tomorestore.training.events import Started, Step

    data = (
        {"inputs": files["input"]}
        if method == "n2v"
        else {"evens": files["even"], "odds": files["odd"]}
    )
    times: list[float] = []
    started: list[float] = []

    def record(event: object) -> None:
        if isinstance(event, Step):
            times.append(time.perf_counter())
        elif isinstance(event, Started):
            started.append(time.perf_counter())

    begin = time.perf_counter()
    cpu = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = tomorestore.train(
            method, device="cpu", steps=warmup + steps, progress=record, **data
        )
    cpu = time.process_time() - cpu
    measured = times[warmup:]
    intervals = [b - a for a, b in zip(measured, measured[1:], strict=False)]
    config = model.config
    return {
        "method": method,
        "setup_s": times[0] - begin,
        "steps_per_s": len(intervals) / (measured[-1] - measured[0]),
        "median_step_s": statistics.median(intervals),
        "cpu_s_per_step": cpu / (warmup + steps),
        "batch": config.batch_size,
        "patch": config.patch_size,
        "channels": config.network.base_channels,
        "norm": config.network.norm,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="128,256,256", help="Z,Y,X of each tomogram")
    parser.add_argument("--count", type=int, default=3, help="tomograms in the data set")
    parser.add_argument("--methods", default="n2n,n2v", help="methods to time")
    parser.add_argument("--warmup", type=int, default=5, help="steps not timed")
    parser.add_argument("--steps", type=int, default=30, help="timed steps")
    parser.add_argument("--workdir", type=Path, help="folder for the data (default: a temp)")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.replace("x", ",").split(","))
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="training-speed-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        files = make_data(folder, shape, args.count)  # type: ignore[arg-type]
        rows = [time_training(m, files, args.warmup, args.steps) for m in args.methods.split(",")]
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    import torch

    print(
        f"training on {args.count} tomograms of {'x'.join(map(str, shape))}, defaults, CPU; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
        f"{os.getloadavg()[0]:.1f}; {args.steps} steps timed after {args.warmup}"
    )
    header = (
        f"{'method':<7} {'batch x patch':>13} {'net':>13} {'set-up s':>8} {'steps/s':>8} "
        f"{'median s/step':>13} {'CPU s/step':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['method']:<7} {r['batch']:>6} x {r['patch']:>3}³ "
            f"{r['channels']:>4} ch {r['norm']:<5} {r['setup_s']:8.1f} {r['steps_per_s']:8.3f} "
            f"{r['median_step_s']:13.2f} {r['cpu_s_per_step']:10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end speed of ``tomorestore restore``: process start to file written.

Writes a tomogram (default 128 x 256 x 256) as MRC and an n2n checkpoint of the default
network, then times ``python -m tomorestore restore --model ... --input ... --out ...``
as a child process: the Python start, the torch import, reading, normalising, the tiled
network passes and writing the file all count. n2n restores a single ``--input`` in one
pass (an even/odd pair would be two passes, one per half, then averaged).

Several variants run in the same invocation, round-robin, ``--repeats`` times each (the
machine is shared and noisy: compare within one run, best of N):

- ``this``: this checkout with the default settings;
- ``baseline`` (with ``--baseline SRC``): another version of the code with its defaults
  (``PYTHONPATH=SRC``, e.g. ``git archive HEAD src | tar -x -C /tmp/base``);
- ``--variant LABEL=FLAGS``: this checkout with extra ``restore`` flags, e.g.
  ``--variant "t96=--tile 96 --overlap 0.25"``.

Reports wall seconds (best and median), output M voxels/s (from the best), the child's
CPU seconds and, on the first variant's output, the largest difference of every other.

With ``--quality`` the tomogram is a simulated one (:func:`tomorestore.simulate_tomogram`)
and the model is trained for ``--train-steps`` steps on its even/odd halves; each output
is then also compared with the ground truth (Pearson) and with an untiled restoration
(one tile of the whole volume, ``--tile 256 --overlap 0``): seams show there.

Examples
--------
python benchmarks/restore_speed.py
python benchmarks/restore_speed.py --baseline /tmp/base/src --repeats 5
python benchmarks/restore_speed.py --variant "t96=--tile 96 --overlap 0.25"
python benchmarks/restore_speed.py --quality --train-steps 150 --repeats 1 \\
    --variant "t96=--tile 96 --overlap 0.25"
python benchmarks/restore_speed.py --quality --method dewedge --train-steps 200 --repeats 1 \\
    --variant "o125=--overlap 0.125"
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

WHOLE = ("--tile", "256", "--overlap", "0")  # one tile of a volume up to 256 per axis
INNER_BORDER = 16


@dataclass
class Variant:
    """One way of running ``tomorestore restore``."""

    label: str
    pythonpath: str
    flags: tuple[str, ...] = ()
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.walls)


def make_data(
    folder: Path,
    shape: tuple[int, int, int],
    quality: bool,
    steps: int,
    reuse: bool,
    method: str = "n2n",
) -> dict:
    """The tomogram (and, with ``quality``, its ground truth) and the n2n checkpoint.

    With ``reuse``, those already in ``folder`` (from an earlier run) are taken as they are.
    """
    import numpy as np

    import tomorestore
    from tomorestore.io import Volume, write_volume

    files: dict = {"model": folder / "model.ckpt", "tomo": folder / "tomo.mrc"}
    truth = folder / "truth.npy"
    if reuse and files["model"].exists() and (truth.exists() or not quality):
        if quality:
            files["truth"] = np.load(truth, mmap_mode="r")
        return files
    if quality:
        sim = tomorestore.simulate_tomogram(shape, seed=0)
        files["tomo"] = write_volume(files["tomo"], Volume(sim.full, voxel_size=10.0))
        files["truth"] = sim.ground_truth
        np.save(truth, sim.ground_truth)
        train = {"even": sim.even, "odd": sim.odd, "steps": steps}
        if method == "dewedge":  # instance norm: the tiling shows in its output if anywhere
            train["tilt_range"] = sim.tilt_range
    else:
        rng = np.random.default_rng(0)
        data = rng.standard_normal(shape, dtype=np.float32)
        files["tomo"] = write_volume(folder / "tomo.mrc", Volume(data, voxel_size=10.0))
        small = rng.standard_normal((64, 96, 96), dtype=np.float32)
        noisy = small + rng.standard_normal(small.shape, dtype=np.float32)
        train = {"even": small, "odd": noisy, "steps": max(1, steps)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tomorestore.train(method, device="cpu", out=files["model"], progress=False, **train)
    return files


def time_restore(variant: Variant, files: dict, out: Path) -> tuple[float, float]:
    """Run one restoration; return (wall seconds, child CPU seconds)."""
    command = [sys.executable, "-m", "tomorestore", "restore", "--model", str(files["model"])]
    command += ["--input", str(files["tomo"]), "--out", str(out), "--device", "cpu", "--quiet"]
    command += list(variant.flags)
    env = dict(os.environ, PYTHONPATH=variant.pythonpath)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{variant.label}: restore failed\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime


def parse_variants(args: argparse.Namespace) -> list[Variant]:
    here = os.environ.get("PYTHONPATH", "")
    variants = [Variant("this", here)]
    if args.baseline is not None:
        variants.insert(0, Variant("baseline", str(args.baseline.resolve())))
    for text in args.variant:
        label, _, flags = text.partition("=")
        variants.append(Variant(label.strip(), here, tuple(shlex.split(flags))))
    return variants


def compare(variants: list[Variant], folder: Path, files: dict) -> None:
    """Differences between the outputs; with a ground truth, Pearson and seams."""
    import numpy as np

    from tomorestore.io import read_volume

    def output(label: str) -> np.ndarray:
        return np.asarray(read_volume(folder / f"{label}.mrc").data, dtype=np.float64)

    first = output(variants[0].label)
    truth = files.get("truth")
    whole = None
    inner = (slice(INNER_BORDER, -INNER_BORDER),) * 3
    if truth is not None:
        whole = output("whole")
        print(
            f"\nuntiled ({' '.join(WHOLE)}): Pearson with the truth {_pearson(whole, truth):.4f}, "
            f"inner {_pearson(whole[inner], truth[inner]):.4f} (inner: without a "
            f"{INNER_BORDER}-voxel border, where the untiled pass sees zero padding)"
        )
    for variant in variants:
        result = output(variant.label)
        difference = np.abs(result - first).max()
        line = f"{variant.label:<10} max |out - {variants[0].label}| {difference:.2e}"
        if truth is not None and whole is not None:
            seam = (np.abs(result - whole) / whole.std())[inner]
            line += (
                f"; Pearson with the truth {_pearson(result, truth):.4f}, inner "
                f"{_pearson(result[inner], truth[inner]):.4f}; inner |out - untiled| / std: "
                f"mean {seam.mean():.4f}, max {seam.max():.3f}"
            )
        print(line)


def _pearson(a, b) -> float:
    import numpy as np

    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="128,256,256", help="Z,Y,X of the tomogram")
    parser.add_argument("--baseline", type=Path, help="src folder of the version to compare")
    parser.add_argument("--variant", action="append", default=[], help="LABEL=restore flags")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant")
    parser.add_argument("--quality", action="store_true", help="simulated data, vs the truth")
    parser.add_argument("--train-steps", type=int, default=1, help="training steps")
    parser.add_argument(
        "--method", choices=("n2n", "dewedge"), default="n2n",
        help="with --quality: the model (dewedge: instance norm, per-tile statistics)",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="folder for the data (default: a temp)")
    parser.add_argument("--reuse", action="store_true", help="keep --workdir's data and model")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.replace("x", ",").split(","))
    voxels = shape[0] * shape[1] * shape[2]
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="restore-speed-"))
    folder.mkdir(parents=True, exist_ok=True)
    variants = parse_variants(args)
    try:
        files = make_data(
            folder,
            shape,
            args.quality,
            args.train_steps,
            args.reuse,
            args.method,  # type: ignore[arg-type]
        )
        if args.quality and not (args.reuse and (folder / "whole.mrc").exists()):
            time_restore(Variant("whole", os.environ.get("PYTHONPATH", ""), WHOLE), files,
                         folder / "whole.mrc")  # fmt: skip
        for _ in range(args.repeats):
            for variant in variants:
                wall, cpu = time_restore(variant, files, folder / f"{variant.label}.mrc")
                variant.walls.append(wall)
                variant.cpus.append(cpu)
                print(f"  {variant.label}: {wall:.2f} s", file=sys.stderr, flush=True)
        report(variants, shape, voxels)
        compare(variants, folder, files)
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def report(variants: list[Variant], shape: tuple[int, ...], voxels: int) -> None:
    """Print the timing table (speed-up relative to the first variant)."""
    import torch

    print(
        f"\nrestore of {'x'.join(map(str, shape))} (n2n, default network), process start to "
        f"file written; torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; {len(variants[0].walls)} run(s) each, round-robin"
    )
    header = (
        f"{'variant':<10} {'best s':>7} {'median s':>8} {'Mvox/s':>7} {'CPU s':>6} "
        f"{'speed-up':>8}  flags"
    )
    print(header)
    print("-" * len(header))
    for variant in variants:
        print(
            f"{variant.label:<10} {variant.best:7.2f} {statistics.median(variant.walls):8.2f} "
            f"{voxels / variant.best / 1e6:7.2f} {min(variant.cpus):6.1f} "
            f"{variants[0].best / variant.best:8.2f}  {' '.join(variant.flags) or '(defaults)'}"
        )


if __name__ == "__main__":
    sys.exit(main())

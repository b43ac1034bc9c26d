"""Peak memory of training one model on a data set of several full-size tomograms.

Writes three even/odd pairs of ``--shape`` (default 128x512x512 float32, 134 MB per file)
as MRC files, then runs ``tomorestore train --method dewedge`` on all of them in a child
process with a wedge refill every ``--refill-every`` steps, and samples the child's
``/proc/<pid>/status`` for its peak resident memory (VmHWM) and peak anonymous memory
(RssAnon: memory not backed by a file; memory-mapped inputs and scratch files are not in
it). Prints one table.

    python benchmarks/dataset_memory.py                     # 3 x 128x512x512, 20 steps
    python benchmarks/dataset_memory.py --tomograms 1 --steps 10
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tomograms", type=int, default=3)
    parser.add_argument("--shape", type=int, nargs=3, default=(128, 512, 512))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--refill-every", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=None, help="where to write the data")
    return parser.parse_args(argv)


def write_pairs(folder: Path, count: int, shape: tuple[int, int, int]) -> list[tuple[Path, Path]]:
    """``count`` even/odd pairs of smooth random structure plus noise, as MRC files."""
    from tomorestore.io import Volume, write_volume

    rng = np.random.default_rng(0)
    pairs = []
    for index in range(count):
        coarse = rng.standard_normal((shape[0] // 8, shape[1] // 8, shape[2] // 8))
        base = np.kron(coarse, np.ones((8, 8, 8))).astype(np.float32)
        paths = []
        for half in ("even", "odd"):
            noisy = base + 2.0 * rng.standard_normal(shape, dtype=np.float32)
            path = folder / f"ts{index}_{half}.mrc"
            write_volume(path, Volume(data=noisy, voxel_size=(10.0, 10.0, 10.0)))
            paths.append(path)
        pairs.append((paths[0], paths[1]))
    return pairs


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def run_measured(command: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, peak RSS MiB, peak RssAnon MiB and exit status of ``command``."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks = {"hwm": 0, "anon": 0}

    def sample() -> None:
        while child.poll() is None:
            peaks["hwm"] = max(peaks["hwm"], _status_kib(child.pid, "VmHWM"))
            peaks["anon"] = max(peaks["anon"], _status_kib(child.pid, "RssAnon"))
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output, _ = child.communicate()
    thread.join()
    elapsed = time.perf_counter() - start
    sys.stderr.write(output[-2000:])
    return elapsed, peaks["hwm"] / 1024, peaks["anon"] / 1024, child.returncode


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shape = tuple(args.shape)
    with tempfile.TemporaryDirectory(prefix="tomorestore-bench-") as tmp:
        folder = args.folder or Path(tmp)
        pairs = write_pairs(folder, args.tomograms, shape)  # type: ignore[arg-type]
        evens = [str(e) for e, _ in pairs]
        odds = [str(o) for _, o in pairs]
        command = [
            sys.executable, "-m", "tomorestore", "train", "--method", "dewedge",
            "--even", *evens, "--odd", *odds, "--tilt-range", "-60", "60",
            "--steps", str(args.steps), "--refill-every", str(args.refill_every),
            "--quiet", "--out", str(folder / "model.ckpt"),
        ]  # fmt: skip
        elapsed, rss, anon, status = run_measured(command)
    file_mib = np.prod(shape) * 4 / 2**20
    print("| tomograms | shape | input MiB | steps | refill every | wall s | peak RSS MiB "
          "| peak RssAnon MiB | exit |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.tomograms} pairs | {'x'.join(map(str, shape))} | "
          f"{2 * args.tomograms * file_mib:.0f} | {args.steps} | {args.refill_every} | "
          f"{elapsed:.0f} | {rss:.0f} | {anon:.0f} | {status} |")  # fmt: skip
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

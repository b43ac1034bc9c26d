"""Peak memory and speed of an end-to-end ``tomorestore restore`` of a large tomogram.

Writes a random float32 tomogram (default 128 x 512 x 512, 134 MB) as MRC, trains an n2n
model of the default network for one step (the cost of restoring does not depend on the
weights), then runs ``tomorestore restore --input ... --out ...`` as a child process (so
the Python start, the torch import and the file writing count) and reports:

- wall time from process start to the file written, and output voxels per second;
- peak RSS (the kernel's ``ru_maxrss`` of the child, from ``os.wait4``);
- peak anonymous memory (``RssAnon`` of ``/proc/<pid>/status``, sampled every few ms):
  memory the process owns, without the pages of memory-mapped files (the input, the
  output being written), which the system can always write back and drop.

The target (issue 10): peak ``RssAnon`` at most half the tomogram's size plus 300 MB.

With ``--baseline SRC`` the same restoration also runs with another version of the code
(``PYTHONPATH=SRC``, e.g. a ``git worktree`` of the previous commit) in the same run, and
the two outputs are compared voxel by voxel. ``--pair`` also restores an even/odd pair.

Examples
--------
python benchmarks/restore_memory.py                                  # 128x512x512
git worktree add --detach /tmp/base HEAD
python benchmarks/restore_memory.py --baseline /tmp/base/src --pair
python benchmarks/restore_memory.py --shape 200,1024,1024            # the issue's size
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MB = 1e6
_STATUS_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


@dataclass
class Result:
    """Figures of one child run."""

    label: str
    inputs: str
    seconds: float
    voxels: int
    peak_rss: float  # bytes
    peak_anon: float  # bytes
    returncode: int
    output: Path

    @property
    def voxels_per_second(self) -> float:
        return self.voxels / self.seconds


def _status(pid: int) -> dict[str, int] | None:
    """Memory fields of /proc/<pid>/status in bytes (None once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {}
    for name in _STATUS_FIELDS:
        match = re.search(rf"^{name}:\s+(\d+) kB", text, re.MULTILINE)
        if match:
            values[name] = int(match.group(1)) * 1024
    return values


def run_child(command: list[str], env: dict[str, str], interval: float = 0.005) -> tuple:
    """Run ``command``; return (seconds, peak RSS, peak RssAnon, return code, stderr)."""
    out_file = tempfile.TemporaryFile()
    err_file = tempfile.TemporaryFile()
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=out_file, stderr=err_file)
    peak_anon = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_anon
        while not stop.is_set():
            values = _status(process.pid)
            if values is None:
                return
            peak_anon = max(peak_anon, values.get("RssAnon", 0))
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)  # reaps the child: its own rusage
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    texts = []
    for handle in (out_file, err_file):
        handle.seek(0)
        texts.append(handle.read().decode(errors="replace"))
        handle.close()
    sys.stdout.write(texts[0])
    return seconds, usage.ru_maxrss * 1024, peak_anon, process.returncode, texts[1]


def make_data(folder: Path, shape: tuple[int, int, int], pair: bool) -> dict[str, Path]:
    """Random tomogram(s) as MRC and a one-step n2n model of the default network."""
    import numpy as np

    import tomorestore
    from tomorestore.io import Volume, write_volume

    rng = np.random.default_rng(0)
    files = {}
    names = ["tomo", "even", "odd"] if pair else ["tomo"]
    for name in names:
        data = rng.standard_normal(shape, dtype=np.float32)
        files[name] = write_volume(folder / f"{name}.mrc", Volume(data=data, voxel_size=10.0))
        del data
    small = rng.standard_normal((64, 64, 64), dtype=np.float32)
    tomorestore.train(
        "n2n",
        even=small,
        odd=small + rng.standard_normal(small.shape, dtype=np.float32),
        steps=1,
        device="cpu",
        out=folder / "model.ckpt",
        progress=False,
    )
    files["model"] = folder / "model.ckpt"
    return files


def restore_command(files: dict[str, Path], out: Path, pair: bool, args) -> list[str]:
    inputs = (
        ["--even", str(files["even"]), "--odd", str(files["odd"])]
        if pair
        else ["--input", str(files["tomo"])]
    )
    command = [sys.executable, "-m", "tomorestore", "restore", "--model", str(files["model"])]
    command += inputs + ["--out", str(out), "--device", args.device, "--quiet"]
    if args.tile:
        command += ["--tile", str(args.tile)]
    return command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="128,512,512", help="Z,Y,X of the tomogram")
    parser.add_argument("--baseline", type=Path, help="src folder of the version to compare")
    parser.add_argument("--pair", action="store_true", help="also restore an even/odd pair")
    parser.add_argument("--tile", type=int, help="tile edge (default: tomorestore's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", type=Path, help="folder for the data (default: a temp)")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.replace("x", ",").split(","))
    voxels = shape[0] * shape[1] * shape[2]
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="restore-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        files = make_data(folder, shape, args.pair)  # type: ignore[arg-type]
        versions = [("this", os.environ.get("PYTHONPATH", ""))]
        if args.baseline is not None:
            versions.insert(0, ("baseline", str(args.baseline.resolve())))
        results = []
        for pair in [False, True] if args.pair else [False]:
            for label, pythonpath in versions:
                out = folder / f"restored-{label}-{'pair' if pair else 'single'}.mrc"
                env = dict(os.environ, PYTHONPATH=pythonpath)
                seconds, rss, anon, code, err = run_child(
                    restore_command(files, out, pair, args), env
                )
                if code != 0:
                    print(f"{label}: exit status {code}\n{err}", file=sys.stderr)
                results.append(
                    Result(
                        label, "pair" if pair else "single", seconds, voxels, rss, anon, code, out
                    )  # fmt: skip
                )
        report(results, shape, voxels * 4)
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(r.returncode == 0 for r in results) else 1


def report(results: list[Result], shape: tuple[int, ...], size: int) -> None:
    """Print the table and, with a baseline, the largest difference between the outputs."""
    import numpy as np

    from tomorestore.io import read_volume

    target = size / 2 + 300 * MB
    print(
        f"\ntomogram {'x'.join(map(str, shape))} float32 = {size / MB:.0f} MB; target peak "
        f"RssAnon <= size/2 + 300 MB = {target / MB:.0f} MB; {os.cpu_count()} CPUs"
    )
    header = (
        f"{'code':<9} {'input':<7} {'wall s':>7} {'Mvox/s':>7} {'peak RSS MB':>12} "
        f"{'peak RssAnon MB':>16} {'anon/size':>9} {'target':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ok = "ok" if r.peak_anon <= target else "over"
        print(
            f"{r.label:<9} {r.inputs:<7} {r.seconds:7.1f} {r.voxels_per_second / 1e6:7.2f} "
            f"{r.peak_rss / MB:12.0f} {r.peak_anon / MB:16.0f} {r.peak_anon / size:9.2f} "
            f"{ok:>7}"
        )
    for inputs in ("single", "pair"):
        runs = [r for r in results if r.inputs == inputs and r.returncode == 0]
        if len(runs) == 2:
            a, b = (np.asarray(read_volume(r.output).data) for r in runs)
            print(f"{inputs}: max |this - baseline| = {float(np.abs(a - b).max()):.2e}")


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the U-Net on the CPU with and without ``malloc`` keeping freed memory.

Each setting runs in its own child process (the ``malloc`` setting is process-wide),
alternating, ``--repeats`` times each; a child builds the default CPU network of n2n
(depth 3, 16 base channels, no normalisation, bf16 + ``channels_last_3d``), then times
``--passes`` forward passes of one tile (inference, as a restore does) and ``--steps``
training steps (n2n's loss, Adam), and prints the best pass and step, its user and system
CPU seconds and the child's peak RSS. Settings:

- ``glibc``: glibc's defaults (``TOMORESTORE_MALLOC_TOP_PAD=0`` in the child);
- ``kept``: tomorestore's settings, applied by ``prepare_for_speed``: the restoring pad
  (``RESTORE_TOP_PAD``, 256 MiB) for the passes, then the training pad
  (``TRAINING_TOP_PAD``, 1 GiB) for the steps;
- with ``--pads 256 512``: those pads (MiB), through ``TOMORESTORE_MALLOC_TOP_PAD``.

Examples
--------
python benchmarks/cpu_allocator.py
python benchmarks/cpu_allocator.py --tile 128,256,256 --steps 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ENV = "TOMORESTORE_MALLOC_TOP_PAD"


def _child(tile: tuple[int, int, int], passes: int, steps: int, patch: int) -> dict:
    import torch

    from tomorestore.models import NetworkConfig, build_network, prepare_for_speed
    from tomorestore.models.performance import autocast_context, to_channels_last_3d

    network = build_network(NetworkConfig(base_channels=16, norm="none"))
    prepare_for_speed(network, "cpu", channels_last=True)

    def usage() -> tuple[float, float, float]:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter(), r.ru_utime, r.ru_stime

    def best_of(count: int, run) -> tuple[float, float, float]:  # noqa: ANN001
        run()  # warm-up
        best = (float("inf"), 0.0, 0.0)
        for _ in range(count):
            start = usage()
            run()
            end = usage()
            wall = end[0] - start[0]
            if wall < best[0]:
                best = (wall, end[1] - start[1], end[2] - start[2])
        return best

    result: dict = {}
    if passes:
        x = to_channels_last_3d(torch.randn(1, 1, *tile))
        network.eval()

        def forward() -> None:
            with torch.inference_mode(), autocast_context("cpu", True):
                network(x)

        result["pass"] = best_of(passes, forward)
    if steps:
        prepare_for_speed(network, "cpu", channels_last=True, training=True)
        network.train()
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
        batch = to_channels_last_3d(torch.randn(4, 1, patch, patch, patch))
        target = torch.randn_like(batch)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with autocast_context("cpu", True):
                loss = torch.mean((network(batch) - target) ** 2)
            loss.backward()
            optimizer.step()

        result["step"] = best_of(steps, step)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tile", default="160,120,120", help="Z,Y,X of the restore tile")
    parser.add_argument("--passes", type=int, default=3, help="timed forward passes")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--patch", type=int, default=64, help="training patch edge")
    parser.add_argument("--repeats", type=int, default=2, help="child runs per setting")
    parser.add_argument("--pads", type=float, nargs="*", default=[],
                        help="also these pads (MiB), e.g. --pads 256 512")  # fmt: skip
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tile = tuple(int(v) for v in args.tile.split(","))
    if args.child:
        print(json.dumps(_child(tile, args.passes, args.steps, args.patch)))
        return

    settings = {"glibc": {ENV: "0"}, "kept": {}}
    for mib in args.pads:
        settings[f"{mib:g} MiB"] = {ENV: str(int(mib * 2**20))}
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for label, extra in settings.items():
            env = {k: v for k, v in os.environ.items() if k not in (ENV, "MALLOC_TOP_PAD_")}
            env |= extra
            out = subprocess.run(
                [sys.executable, __file__, "--child", *sys.argv[1:]],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            result = json.loads(out.stdout.strip().splitlines()[-1])
            kept = best.setdefault(label, {"peak_rss_mb": 0.0})
            for key in ("pass", "step"):
                if key in result and (key not in kept or result[key][0] < kept[key][0]):
                    kept[key] = result[key]  # (wall, user, sys) of the fastest
            kept["peak_rss_mb"] = max(kept["peak_rss_mb"], result["peak_rss_mb"])

    voxels = tile[0] * tile[1] * tile[2]
    print(f"tile {tile}, training batch 4 x {args.patch}^3, best of {args.repeats} children")
    print(f"{'setting':8} {'pass s':>7} {'Mvox/s':>7} {'user':>6} {'sys':>6} "
          f"{'step s':>7} {'user':>6} {'sys':>6} {'peak RSS MB':>12}")  # fmt: skip
    for label, result in best.items():
        row = f"{label:8}"
        if "pass" in result:
            wall, user, system = result["pass"]
            row += f" {wall:7.3f} {voxels / wall / 1e6:7.2f} {user:6.2f} {system:6.2f}"
        if "step" in result:
            wall, user, system = result["step"]
            row += f" {wall:7.3f} {user:6.2f} {system:6.2f}"
        print(row + f" {result['peak_rss_mb']:12.0f}")


if __name__ == "__main__":
    main()

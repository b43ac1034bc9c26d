"""Speed and peak memory of whole-volume tiled inference with the 3D U-Net.

Restores a random volume (default 128 x 256 x 256) with an untrained U-Net (the cost does
not depend on the weights) in fp32 and in the fast settings (bf16 autocast +
channels_last_3d), for each requested base channel count. Each configuration runs in its
own subprocess so that the CPU peak memory (``ru_maxrss``) belongs to it alone.

Reports output voxels per second (what a user waits for) and network voxels per second
(tile voxels pushed through the network; the difference is the overlap and border cost),
wall-clock and process CPU seconds (CPU seconds / threads is the wall time on an idle
machine; on a shared machine the wall time is noisy), and peak memory (process RSS high
water mark on the CPU, ``torch.cuda.max_memory_allocated`` on a GPU).

Examples
--------
python benchmarks/inference_speed.py                         # full size, CPU
python benchmarks/inference_speed.py --shape 64,128,128      # quick
python benchmarks/inference_speed.py --device cuda --batch-size 4
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time


def _parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.replace("x", ",").split(",") if v)


def run_one(args: argparse.Namespace) -> dict:
    """Run one configuration in this process and return its figures."""
    import numpy as np
    import torch

    from tomorestore.inference import restore_volume
    from tomorestore.inference.tiling import plan_grid
    from tomorestore.models import UNet3D

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    fast = args.mode == "fast"
    shape = _parse_ints(args.shape)
    volume = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    torch.manual_seed(0)
    net = UNet3D(depth=args.depth, base_channels=args.channels, norm=args.norm).to(device)
    tile = (args.tile,) * 3
    grid = plan_grid(shape, tile, args.overlap)
    tile_voxels = len(grid) * int(np.prod(grid.tile_shape))
    kwargs = dict(
        device=device, fast=fast, tile=args.tile, overlap=args.overlap,
        batch_size=args.batch_size, stitch_device="cpu",
    )  # fmt: skip

    # warm-up on one tile's worth of data (allocator, oneDNN/cuDNN kernel choice)
    restore_volume(net, volume[: grid.tile_shape[0], : args.tile, : args.tile], **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    start, cpu_start = time.perf_counter(), time.process_time()
    result = restore_volume(net, volume, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start

    assert result.shape == volume.shape and result.dtype == np.float32
    figures = {
        "channels": args.channels,
        "mode": args.mode,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "threads": torch.get_num_threads(),
        "output_mvox_s": volume.size / seconds / 1e6,
        "network_mvox_s": tile_voxels / seconds / 1e6,
        "tiles": len(grid),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mib": rss_before,
    }
    if device.type == "cuda":
        figures["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="128,256,256", help="Z,Y,X of the test volume")
    parser.add_argument("--channels", default="32,16", help="base channel counts to test")
    parser.add_argument("--modes", default="fp32,fast", help="fp32 and/or fast")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--norm", default="instance")
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="fp32", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        args.channels = int(args.channels)
        print(json.dumps(run_one(args)))
        return 0

    import torch

    rows = []
    if not args.json:
        print(
            f"tomorestore inference benchmark: volume {args.shape}, U-Net depth {args.depth}, "
            f"norm {args.norm}, tile {args.tile}, overlap {args.overlap}, batch "
            f"{args.batch_size}, device {args.device}, torch {torch.__version__}, "
            f"{platform.processor() or platform.machine()}, "
            f"{args.threads or torch.get_num_threads()} threads"
        )
        header = f"{'channels':>8} {'mode':>5} {'seconds':>8} {'CPU s':>7} {'out Mvox/s':>10} "
        header += f"{'net Mvox/s':>10} {'tiles':>5} {'peak RSS MiB':>12}"
        if args.device.startswith("cuda"):
            header += f" {'peak GPU MiB':>12}"
        print(header)
    for channels in _parse_ints(args.channels):
        for mode in args.modes.split(","):
            command = [sys.executable, __file__, "--one", "--mode", mode]
            command += ["--channels", str(channels), "--shape", args.shape]
            command += ["--depth", str(args.depth), "--norm", args.norm, "--tile", str(args.tile)]
            command += ["--overlap", str(args.overlap), "--batch-size", str(args.batch_size)]
            command += ["--device", args.device, "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            if args.json:
                print(json.dumps(row))
                continue
            line = f"{channels:>8} {mode:>5} {row['seconds']:>8.1f} {row['cpu_seconds']:>7.1f} "
            line += f"{row['output_mvox_s']:>10.2f} {row['network_mvox_s']:>10.2f} "
            line += f"{row['tiles']:>5} {row['peak_rss_mib']:>12.0f}"
            if "peak_gpu_mib" in row:
                line += f" {row['peak_gpu_mib']:>12.0f}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

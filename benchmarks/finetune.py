"""How many fine-tuning steps a trained model needs to match a from-scratch run on new data.

Simulates two independent tomograms (seeds ``--seed-a`` and ``--seed-b``), trains a model
from scratch on B with the method's default budget, trains one on A likewise, then
fine-tunes the A model on B (``init=``) for each budget in ``--budgets`` and prints the
Pearson correlation (whole volume and without the lamella's Z profile) of every
restoration of B with B's ground truth, with the training times.

    python benchmarks/finetune.py                       # n2n, 64x128x128
    python benchmarks/finetune.py --method dewedge --budgets 50 100 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="n2n")
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 128, 128))
    parser.add_argument("--seed-a", type=int, default=0)
    parser.add_argument("--seed-b", type=int, default=1)
    parser.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100, 200])
    return parser.parse_args(argv)


def scores(volume: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Pearson r, and r after removing each Z plane's mean (the lamella profile)."""
    whole = float(np.corrcoef(volume.ravel(), truth.ravel())[0, 1])
    a = volume - volume.mean(axis=(1, 2), keepdims=True)
    b = truth - truth.mean(axis=(1, 2), keepdims=True)
    return whole, float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def main(argv: list[str] | None = None) -> int:
    import tomorestore

    args = parse_args(argv)
    tilt = (-60.0, 60.0)
    sims = {
        name: tomorestore.simulate_tomogram(tuple(args.shape), tilt_range=tilt, seed=seed)
        for name, seed in (("A", args.seed_a), ("B", args.seed_b))
    }
    common = {"tilt_range": tilt, "progress": False, "config": {"preview_every": 0}}

    def train(sim, **kwargs):
        start = time.perf_counter()
        model = tomorestore.train(args.method, even=sim.even, odd=sim.odd, **common, **kwargs)
        return model, time.perf_counter() - start

    rows = []
    b = sims["B"]
    scratch, seconds = train(b)
    rows.append(("from scratch on B", scratch.config.steps, seconds, scratch))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "a.ckpt"
        model_a, seconds_a = train(sims["A"], out=checkpoint)
        rows.append(("trained on A only (no B)", 0, 0.0, model_a))
        for steps in args.budgets:
            tuned, seconds = train(b, init=checkpoint, steps=steps)
            rows.append((f"A, fine-tuned on B ({steps} steps)", steps, seconds, tuned))
    print(f"{args.method}, {'x'.join(map(str, args.shape))}, model A took {seconds_a:.0f} s")
    print("| model | steps on B | time on B | Pearson r | r without Z profile |")
    print("|---|---:|---:|---:|---:|")
    for name, steps, seconds, model in rows:
        restored = model.restore([b.even, b.odd])
        r, flat = scores(restored, b.ground_truth)
        print(f"| {name} | {steps} | {seconds:.0f} s | {r:.3f} | {flat:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

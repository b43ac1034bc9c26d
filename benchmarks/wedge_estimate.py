"""Accuracy of the tilt range estimated from a tomogram's power spectrum.

Simulates tomograms (``tomorestore.simulate_tomogram``) over several tilt ranges, seeds and
SNRs, estimates each range from the ``full``, ``even`` and noise-free ``wedge_only``
reconstructions with ``tomorestore.physics.estimate_tilt_range`` and prints a Markdown
table: the simulated tilts (their min and max; a nominal range whose width is not a
multiple of the step ends at the last tilt below it), the errors of the estimate against
the outermost tilts and the confidence, grouped over seeds and SNRs (``--every-row``: one
row per estimate). White-noise volumes (no wedge) show the confidence when there is
nothing to find; ``--real FILE`` adds rows for real tomograms (no ground truth: estimate
and confidence for both tilt axes).

Examples
--------
python benchmarks/wedge_estimate.py
python benchmarks/wedge_estimate.py --shape 64,64,64 --snr 0.1,0.05 --seeds 1,2 --every-row
python benchmarks/wedge_estimate.py --real ../shared/data/13pf_MT.tif
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tomorestore import read_volume, simulate_tomogram
from tomorestore.physics import estimate_tilt_range

RANGES = ((-60.0, 60.0), (-48.0, 62.0), (-62.0, 48.0), (-40.0, 40.0), (-30.0, 66.0))


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def simulated_rows(shape, ranges, seeds, snrs) -> list[dict]:
    """One row per (range, seed, snr, volume) with the estimate and its errors."""
    rows = []
    for tilt_range in ranges:
        for seed in seeds:
            for snr in snrs:
                sim = simulate_tomogram(shape, tilt_range=tilt_range, seed=seed, snr=snr)
                low, high = float(sim.tilt_angles.min()), float(sim.tilt_angles.max())
                for which in ("full", "even", "wedge_only"):
                    start = time.perf_counter()
                    est = estimate_tilt_range(getattr(sim, which))
                    rows.append(
                        {
                            "tilts": f"{low:g}..{high:g}",
                            "seed": seed,
                            "snr": snr,
                            "volume": which,
                            "estimate": f"{est.tilt_min:.1f}..{est.tilt_max:.1f}",
                            "err_min": est.tilt_min - low,
                            "err_max": est.tilt_max - high,
                            "confidence": est.confidence,
                            "seconds": time.perf_counter() - start,
                        }
                    )
    return rows


def print_simulated(rows: list[dict], every_row: bool = False) -> None:
    """Markdown table of :func:`simulated_rows` (grouped unless ``every_row``) and a summary."""
    if every_row:
        print("| tilts (deg) | seed | SNR | volume | estimate (deg) | err min | err max | conf. |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['tilts']} | {r['seed']} | {r['snr']:g} | {r['volume']} | "
                f"{r['estimate']} | {r['err_min']:+.1f} | {r['err_max']:+.1f} | "
                f"{r['confidence']:.2f} |"
            )
    else:
        print("| tilts (deg) | volume | n | err min (deg) | err max (deg) | conf. |")
        print("|---|---|---|---|---|---|")
        groups: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            groups.setdefault((r["tilts"], r["volume"]), []).append(r)
        for (tilts, volume), group in groups.items():
            lo = [r["err_min"] for r in group]
            hi = [r["err_max"] for r in group]
            conf = [r["confidence"] for r in group]
            print(
                f"| {tilts} | {volume} | {len(group)} | {min(lo):+.1f}..{max(lo):+.1f} | "
                f"{min(hi):+.1f}..{max(hi):+.1f} | {min(conf):.2f}..{max(conf):.2f} |"
            )
    errors = np.array([[r["err_min"], r["err_max"]] for r in rows])
    confidences = np.array([r["confidence"] for r in rows])
    seconds = np.array([r["seconds"] for r in rows])
    print(
        f"\n{len(rows)} estimates: max |error| {np.abs(errors).max():.1f} deg, mean error "
        f"min edge {errors[:, 0].mean():+.2f}, max edge {errors[:, 1].mean():+.2f} deg; "
        f"confidence {confidences.min():.2f}..{confidences.max():.2f}; "
        f"{seconds.mean() * 1000:.0f} ms per estimate."
    )


def print_noise(shape, seeds) -> None:
    """Confidence on white noise (no missing wedge)."""
    print("\n| white noise | seed | estimate (deg) | contrast | spread (deg) | conf. |")
    print("|---|---|---|---|---|---|")
    for seed in seeds:
        noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        est = estimate_tilt_range(noise)
        print(
            f"| {'x'.join(map(str, shape))} | {seed} | {est.tilt_min:.1f}..{est.tilt_max:.1f} | "
            f"{est.contrast:.2f} | {est.spread:.1f} | {est.confidence:.2f} |"
        )


def print_real(paths) -> None:
    """Estimates for real tomograms, with tilt axis Y and X."""
    print("\n| file | shape | tilt axis | estimate (deg) | contrast | spread (deg) | conf. |")
    print("|---|---|---|---|---|---|---|")
    for path in paths:
        volume = read_volume(path)
        for axis in ("Y", "X"):
            est = estimate_tilt_range(volume.data, tilt_axis=axis)
            print(
                f"| {path} | {'x'.join(map(str, volume.shape))} | {axis} | "
                f"{est.tilt_min:.1f}..{est.tilt_max:.1f} | {est.contrast:.2f} | "
                f"{est.spread:.1f} | {est.confidence:.2f} |"
            )


def main() -> None:
    """Parse the arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="64,64,64", help="Z,Y,X of the simulations")
    parser.add_argument("--seeds", default="1,2", help="simulation seeds")
    parser.add_argument("--snr", default="0.1,0.05", help="projection SNRs")
    parser.add_argument("--real", nargs="*", default=[], metavar="FILE", help="real tomograms")
    parser.add_argument("--every-row", action="store_true", help="one row per estimate")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    seeds = [int(v) for v in args.seeds.split(",")]
    print_simulated(simulated_rows(shape, RANGES, seeds, _floats(args.snr)), args.every_row)
    print_noise(shape, seeds + [s + 100 for s in seeds])
    if args.real:
        print_real(args.real)


if __name__ == "__main__":
    main()

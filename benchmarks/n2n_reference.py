"""tomorestore's n2n beside a plain Noise2Noise reference, on the quality benchmark's data.

The reference (``plain_n2n.py``: a minimal 3-level U-Net, instance norm, residual output,
patch 32, batch 4, Adam 1e-3 constant, 600 steps, random swap, untiled restore) trains on
the even/odd halves of one case of ``benchmarks/quality.py`` (same simulation, same
scores: ``quality_metrics.Scorer`` and the even/odd FSC). Its restoration is scored every
``--score-every`` steps, so one run also gives its curve. ``--compare`` then trains
tomorestore's n2n through the real engine (``quality.train_and_restore``) on the same
halves in the same process, so both rows come from one run on one machine state.

Each variant flag changes one thing of the reference, for ablations. One JSON file per
run: ``benchmarks/results/n2n_reference_<case>_<label>.json``.

Usage::

    python benchmarks/n2n_reference.py --case sparse --compare
    python benchmarks/n2n_reference.py --case sparse --norm none --label norm-none
    python benchmarks/n2n_reference.py --case sparse --compare-only \\
        --train patch_size=32 --set n2n.rotate=false --label n2n-p32-norot
    python benchmarks/n2n_reference.py --case dense --shape 32 64 64 --steps 20 \\
        --results /tmp/q                                       # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from plain_n2n import PlainSettings, run_plain
from quality_metrics import CASES, Scorer

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = PlainSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=tuple(CASES), default="sparse")
    parser.add_argument("--shape", type=int, nargs=3, default=None,
                        help="override the case's shape (quick checks only)")  # fmt: skip
    parser.add_argument("--snr", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--patch", type=int, default=defaults.patch)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--schedule", choices=("constant", "cosine"), default=defaults.schedule)
    parser.add_argument("--norm", choices=("instance", "batch", "none"), default=defaults.norm)
    parser.add_argument("--no-residual", dest="residual", action="store_false")
    parser.add_argument("--base", type=int, default=defaults.base)
    parser.add_argument("--augment", choices=("none", "flips", "rotations"),
                        default=defaults.augment)  # fmt: skip
    parser.add_argument("--holdout", type=float, default=defaults.holdout,
                        help="fraction of Y never trained on")  # fmt: skip
    parser.add_argument("--bf16", action="store_true", help="train under bf16 autocast")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--score-every", type=int, default=100,
                        help="score the reference's restoration every N steps")  # fmt: skip
    parser.add_argument("--compare", action="store_true",
                        help="also train tomorestore's n2n on the same halves")  # fmt: skip
    parser.add_argument("--compare-only", action="store_true",
                        help="train tomorestore's n2n only (no reference)")  # fmt: skip
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="tomorestore n2n: multiply its default steps")  # fmt: skip
    parser.add_argument("--train", action="append", default=[], metavar="FIELD=VALUE",
                        help="tomorestore n2n: override a training field")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="n2n.PARAM=VALUE",
                        help="tomorestore n2n: override a method parameter")  # fmt: skip
    parser.add_argument("--label", default="reference")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> PlainSettings:
    """The reference variant the flags describe."""
    return PlainSettings(**{f.name: getattr(args, f.name) for f in fields(PlainSettings)})


def _scores(score: Scorer, restored: np.ndarray, parts: list[np.ndarray]) -> dict[str, Any]:
    from tomorestore.physics.evaluation import even_odd_fsc

    fsc = {k: v for k, v in even_odd_fsc(*parts).items() if k != "fsc_curve"}
    return {**score(restored), **fsc}


def _meta(args: argparse.Namespace, shape: tuple[int, int, int]) -> dict[str, Any]:
    import torch

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    case = CASES[args.case]
    return {
        "case": case.name,
        "shape": list(shape),
        "tilt_range": list(case.tilt_range),
        "seed": case.seed,
        "snr": args.snr,
        "command": "python benchmarks/n2n_reference.py " + " ".join(sys.argv[1:]),
        "commit": commit,
        "date": datetime.now(timezone.utc).isoformat(timespec="minutes"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_start": list(os.getloadavg()),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Simulate the case, train and score what the flags ask for; write the JSON part."""
    from overrides import overrides
    from quality import train_and_restore

    from tomorestore.simulate import simulate_tomogram

    case = CASES[args.case]
    shape = tuple(args.shape) if args.shape else case.shape
    meta = _meta(args, shape)
    sim = simulate_tomogram(shape, tilt_range=case.tilt_range, tilt_step=3.0, snr=args.snr,
                            seed=case.seed, sample=case.sample)  # fmt: skip
    score = Scorer(sim.ground_truth, case.tilt_range)
    rows: list[dict[str, Any]] = []
    if not args.compare_only:
        settings = settings_from(args)
        start = time.perf_counter()
        every = max(1, args.score_every)
        _, _, curve = run_plain(
            sim.even, sim.odd, settings,
            score_at=set(range(every, settings.steps + 1, every)),
            score=lambda restored, parts: _progress(start, _scores(score, restored, parts)),
        )  # fmt: skip
        row = {"name": f"plain reference ({args.label})", **curve[-1],
               "steps": settings.steps, "time_s": time.perf_counter() - start,
               "settings": asdict(settings), "curve": curve}  # fmt: skip
        _report(row)
        rows.append(row)
    if args.compare or args.compare_only:
        train_fields = overrides([f"train.{item}" for item in args.train]).get("train", {})
        params = overrides(args.set).get("n2n", {})
        start = time.perf_counter()
        restored, parts, info = train_and_restore(
            "n2n", sim, budget=args.budget_scale, device="cpu", params=params, seed=case.seed,
            train_fields=train_fields)  # fmt: skip
        row = {"name": "tomorestore n2n" + (f" ({args.label})" if args.compare_only else ""),
               **_scores(score, restored, parts), "steps": info["config"]["steps"],
               "time_s": time.perf_counter() - start, "val_losses": info["val_losses"],
               "config": info["config"]}  # fmt: skip
        _report(row)
        rows.append(row)
    meta["load_end"] = list(os.getloadavg())
    part = {"meta": meta, "rows": rows}
    path = args.results / f"n2n_reference_{case.name}_{args.label}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(part, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}", flush=True)
    return part


def _progress(start: float, scores: dict[str, Any]) -> dict[str, Any]:
    """Print the scores of a curve point as they come (long runs), and return them."""
    keys = ("structure", "wedge_noline", "measured")
    print(f"  {time.perf_counter() - start:.0f} s", {k: round(float(scores[k]), 4) for k in keys},
          flush=True)  # fmt: skip
    return scores


def _report(row: dict[str, Any]) -> None:
    keys = ("structure", "wedge_noline", "measured", "fsc_mean", "steps", "time_s")
    print(row["name"], {k: round(float(row[k]), 4) for k in keys if k in row}, flush=True)
    for point in row.get("curve", []):
        print("  step", point["step"], {k: round(float(point[k]), 4)
                                        for k in ("loss", "structure", "measured")})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

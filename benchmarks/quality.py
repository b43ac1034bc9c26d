"""Restoration quality of every method on simulated tomograms with known ground truth.

A benchmark, not a test: it trains each method with its default budget (the steps the
command line gives that much data by default; minutes each on a 2-core CPU) on
independent simulated tomograms (``quality_metrics.CASES``: a dense lamella and a sparse
sample in ice, each small and large, with a symmetric and an asymmetric tilt range) and
scores the restorations (``quality_metrics``): Pearson r without the Z profile and the
in-wedge Fourier correlation without the line k_x = k_y = 0 first, then the
measured-region correlation, the whole-volume r, the in-wedge correlation with the line,
and the even/odd FSC of the restorations of each half (no ground truth needed).

Every run writes one JSON file per part into ``benchmarks/results``
(``quality_<case>_baselines.json``, ``quality_<case>_<method>_x<budget>.json``, and the
central slices as ``.npz`` for the figure); ``--merge`` builds the tables in
``docs/quality.md`` (between its markers) and ``docs/quality.png`` from all parts present.

Usage::

    python benchmarks/quality.py --case sparse --methods n2v dewedge
    python benchmarks/quality.py --case dense --methods n2n --budget-scale 4
    python benchmarks/quality.py --case dense --shape 32 64 64 --budget-scale 0.05 \\
        --results /tmp/quick                                  # a quick check of the pipeline
    python benchmarks/quality.py --merge
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from overrides import overrides
from quality_metrics import CASES, SINGLE, Scorer, best_gaussian, budget_steps
from quality_report import merge

ROOT = Path(__file__).resolve().parents[1]
METHOD_ORDER = ("n2v", "n2n", "dewedge", "ei", "ei-single", "n2n-single")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=tuple(CASES), default="dense")
    parser.add_argument("--methods", nargs="*", default=["n2v", "n2n", "dewedge", "ei"],
                        choices=METHOD_ORDER, help="methods to train ('ei-single', 'n2n-single': "
                        "EI and n2n on the full tomogram alone); none: baselines only")  # fmt: skip
    parser.add_argument("--budget-scale", "--steps-scale", dest="budget", type=float,
                        default=1.0, help="multiply each default step count")  # fmt: skip
    parser.add_argument("--shape", type=int, nargs=3, default=None,
                        help="override the case's shape (quick checks only)")  # fmt: skip
    parser.add_argument("--snr", type=float, default=0.1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE",
                        help="override a method parameter, e.g. dewedge.rotations=so3")  # fmt: skip
    parser.add_argument("--train", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a training field, e.g. batch_size=8")  # fmt: skip
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder of the JSON parts")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="folder of quality.md and quality.png (--merge)")  # fmt: skip
    parser.add_argument("--merge", action="store_true",
                        help="build docs/quality.md and .png from the parts")  # fmt: skip
    return parser.parse_args(argv)


def train_and_restore(
    name: str,
    sim: Any,
    *,
    budget: float,
    device: str,
    params: dict[str, Any],
    seed: int,
    train_fields: dict[str, Any] | None = None,
) -> tuple[np.ndarray, list[np.ndarray], dict[str, Any]]:
    """Train ``name`` with its default budget (scaled); restore the tomogram and each half.

    Single-tomogram methods (``SINGLE``) train on the full tomogram; their model then
    restores the even and the odd half separately. Even/odd methods restore both halves
    (the restoration is the method's combination of the two).
    """
    from tomorestore.methods import get_method
    from tomorestore.training.config import make_config, make_wedge
    from tomorestore.training.engine import train_events
    from tomorestore.training.events import Finished, Validated

    method = SINGLE.get(name, name)
    cls = get_method(method)
    single = name in SINGLE
    halves = [sim.full] if single else [sim.even, sim.odd]
    fields: dict[str, Any] = {"method": method, "device": device, "seed": seed}
    # the parameters the engine chooses for these data (ei: its denoiser) set the budget
    chosen, _ = cls.params_for_data(cls.params_type.model_validate(params or {}), halves)
    fields["steps"] = budget_steps(name, sim.full.shape, budget, _device_type(device), chosen)
    fields["preview_every"] = 0
    if cls.needs_wedge:
        fields["wedge"] = make_wedge(sim.tilt_range)
    if params:
        fields["params"] = params
    fields.update(train_fields or {})  # --train steps=N replaces the scaled budget
    steps = int(fields["steps"])
    fields.setdefault("validate_every", max(1, steps // 4))
    config = make_config(**fields)
    start = time.perf_counter()
    model = None
    val_losses = []
    for event in train_events(config, halves):
        if isinstance(event, Validated):
            val_losses.append(round(event.val_loss, 4))
        if isinstance(event, Finished):
            model = event.model
    trained = time.perf_counter()
    if single:
        restored = model.restore(halves, device=device)
        done = time.perf_counter()
        _, parts = model.restore_parts([sim.even, sim.odd], device=device)
    else:
        restored, parts = model.restore_parts(halves, device=device)
        done = time.perf_counter()
    info = {
        "steps": steps,
        "train_s": trained - start,
        "restore_s": done - trained,
        "val_losses": val_losses,
        "config": model.config.model_dump(mode="json"),
    }
    return restored, parts, info


def _row(name: str, score: Scorer, volume: np.ndarray, halves: list[np.ndarray]) -> dict:
    from tomorestore.physics.evaluation import even_odd_fsc

    return {"name": name, **score(volume), **even_odd_fsc(*halves)}


def _meta(args: argparse.Namespace, case: Any, shape: tuple[int, int, int]) -> dict[str, Any]:
    import torch

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    return {
        "case": case.name,
        "sample": case.sample,
        "shape": list(shape),
        "tilt_range": list(case.tilt_range),
        "seed": case.seed,
        "snr": args.snr,
        "budget": args.budget,
        "device_type": _device_type(args.device),
        "command": "python benchmarks/quality.py " + " ".join(sys.argv[1:]),
        "commit": commit,
        "date": datetime.now(timezone.utc).isoformat(timespec="minutes"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "fsc_edge": 8,  # soft-edge width of even_odd_fsc (absent: FSC without the window)
    }


def _device_type(device: str) -> str:
    from tomorestore.training.device import resolve_device

    return str(resolve_device(device).type)


def _save(path: Path, part: dict[str, Any], volumes: dict[str, np.ndarray]) -> None:
    """Write the JSON part and the central XY and XZ slices of ``volumes`` (float16 .npz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(part, indent=1) + "\n", encoding="utf-8")
    slices = {}
    for key, volume in volumes.items():
        z, y, _ = (s // 2 for s in volume.shape)
        slices[f"{key}_xy"] = volume[z].astype(np.float16)
        slices[f"{key}_xz"] = volume[:, y, :].astype(np.float16)
    np.savez_compressed(path.with_suffix(".npz"), **slices)
    print(f"wrote {path}", flush=True)


def _has_baselines(path: Path, shape: tuple[int, int, int], snr: float) -> bool:
    if not path.exists():
        return False
    meta = json.loads(path.read_text(encoding="utf-8"))["meta"]
    return meta["shape"] == list(shape) and meta["snr"] == snr


def run_case(args: argparse.Namespace) -> None:
    """Simulate the case, score the baselines, train and score each method; save JSON."""
    import torch

    from tomorestore.simulate import simulate_tomogram

    case = CASES[args.case]
    shape = tuple(args.shape) if args.shape else case.shape
    params = overrides(args.set)
    train_fields = overrides([f"train.{item}" for item in args.train]).get("train", {})
    start = time.perf_counter()
    sim = simulate_tomogram(shape, tilt_range=case.tilt_range, tilt_step=3.0, snr=args.snr,
                            seed=case.seed, sample=case.sample)  # fmt: skip
    print(f"{case.name}: simulated {shape} in {time.perf_counter() - start:.0f} s", flush=True)
    score = Scorer(sim.ground_truth, case.tilt_range)
    meta = _meta(args, case, shape)
    base = args.results / f"quality_{case.name}_baselines.json"
    if not _has_baselines(base, shape, args.snr):
        start = time.perf_counter()
        smooth, sigma = best_gaussian(sim.full, score)
        from scipy.ndimage import gaussian_filter

        halves = [gaussian_filter(h, sigma) for h in (sim.even, sim.odd)]
        rows = [
            _row("raw tomogram (full)", score, sim.full, [sim.even, sim.odd]),
            {"name": "noise-free back-projection (reference only)", **score(sim.wedge_only)},
            {**_row(f"oracle Gaussian (σ={sigma:g})", score, smooth, halves),
             "time_s": time.perf_counter() - start},
        ]  # fmt: skip
        for row in rows:
            print({k: v for k, v in row.items() if k != "fsc_curve"}, flush=True)
        volumes = {"truth": sim.ground_truth, "raw": sim.full, "gaussian": smooth}
        _save(base, {"meta": meta, "rows": rows, "truth_profile_share": _profile_share(sim)},
              volumes)  # fmt: skip
    for name in [m for m in METHOD_ORDER if m in args.methods]:
        torch.manual_seed(case.seed)
        method_params = params.get(SINGLE.get(name, name), {})
        restored, parts, info = train_and_restore(
            name, sim, budget=args.budget, device=args.device, params=method_params,
            seed=case.seed, train_fields=train_fields)  # fmt: skip
        row = {**_row(name, score, restored, parts), "steps": info["steps"],
               "time_s": info["train_s"] + info["restore_s"]}  # fmt: skip
        print({k: v for k, v in row.items() if k != "fsc_curve"}, info["val_losses"], flush=True)
        label = f"x{args.budget:g}"
        path = args.results / f"quality_{case.name}_{name}_{label}.json"
        _save(path, {"meta": meta, "rows": [row], "info": info}, {"restored": restored})


def _profile_share(sim: Any) -> float:
    """Share of the ground truth's variance that is its mean over each Z plane."""
    truth = sim.ground_truth.astype(np.float64)
    return float(truth.mean(axis=(1, 2)).var() / truth.var())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        merge(args.results, args.out)
        return 0
    run_case(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

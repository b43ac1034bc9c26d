"""Restoration quality of every method on a simulated tomogram with known ground truth.

A benchmark, not a test: it trains each method with its default budget (about 10 minutes
each on a 2-core CPU) and compares the restorations with the ground truth:

- Pearson correlation over the whole volume,
- Pearson correlation of the structure: both volumes minus their mean over each Z plane.
  Half of the ground truth's variance is the lamella's Z profile (vacuum, cytoplasm,
  vacuum), which lies on the single Fourier line k_x = k_y = 0 inside the missing wedge;
  no tilt measures it, so the whole-volume r mostly says how well a method guesses that
  profile. This column says how well it restores everything else,
- Fourier correlation at least 10 degrees inside the missing wedge, and at least 10 degrees
  inside the measured region (both within the Nyquist sphere, DC excluded),
- wall-clock time of training plus restoration.

Baselines: the raw tomogram and the best Gaussian filter (an oracle: sigma chosen by its
correlation with the ground truth). Writes the table into docs/quality.md (between its
markers) and a figure of central XY and XZ slices (docs/quality.png).

Usage::

    python benchmarks/quality.py                       # full run, ~30 minutes on 2 cores
    python benchmarks/quality.py --steps-scale 0.1 --methods n2n dewedge --no-write
    python benchmarks/quality.py --set dewedge.rotations=so3 --methods dewedge
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METHOD_ORDER = ("n2v", "n2n", "dewedge", "ei", "ei-single")
TILT_RANGE = (-60.0, 60.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["n2v", "n2n", "dewedge", "ei"],
                        choices=METHOD_ORDER, help="methods to train ('ei-single': EI on the "
                        "full tomogram with the blind-spot data term)")  # fmt: skip
    parser.add_argument("--steps-scale", type=float, default=1.0,
                        help="multiply every default step count (quick runs: 0.1)")  # fmt: skip
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 128, 128))
    parser.add_argument("--snr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE",
                        help="override a method parameter, e.g. dewedge.rotations=so3 "
                        "(values are parsed as JSON when possible)")  # fmt: skip
    parser.add_argument("--train", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a training field for every method, e.g. "
                        "learning_rate=0.002 or batch_size=8")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="folder for quality.md and quality.png")  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="only print the table")
    return parser.parse_args(argv)


def overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["dewedge.rotations=so3"]`` -> ``{"dewedge": {"rotations": "so3"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, text = item.partition("=")
        method, _, param = key.partition(".")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out.setdefault(method, {})[param] = value
    return out


class Scorer:
    """Correlation of a volume with the ground truth, whole and per Fourier region."""

    def __init__(self, ground_truth: np.ndarray) -> None:
        import torch

        from tomorestore.physics import MissingWedge, wedge_region_masks

        self.truth = torch.as_tensor(ground_truth, dtype=torch.float64)
        wedge = MissingWedge(*TILT_RANGE)
        self.inside, self.measured = wedge_region_masks(wedge, ground_truth.shape, 10.0)

    def __call__(self, volume: np.ndarray) -> dict[str, float]:
        import torch

        from tomorestore.physics import fourier_correlation

        v = torch.as_tensor(np.asarray(volume), dtype=torch.float64)
        pearson = float(np.corrcoef(v.numpy().ravel(), self.truth.numpy().ravel())[0, 1])
        return {
            "pearson": pearson,
            "structure": structure_pearson(v.numpy(), self.truth.numpy()),
            "wedge": float(fourier_correlation(v, self.truth, self.inside)),
            "measured": float(fourier_correlation(v, self.truth, self.measured)),
        }


def structure_pearson(volume: np.ndarray, truth: np.ndarray) -> float:
    """Pearson r after removing each volume's mean over every Z plane (the lamella profile)."""
    a = volume - volume.mean(axis=(1, 2), keepdims=True)
    b = truth - truth.mean(axis=(1, 2), keepdims=True)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def best_gaussian(noisy: np.ndarray, score: Scorer) -> tuple[np.ndarray, float]:
    """The Gaussian filter of ``noisy`` that correlates best with the ground truth."""
    from scipy.ndimage import gaussian_filter

    best = (-2.0, 0.0, noisy)
    for sigma in np.arange(0.5, 5.01, 0.25):
        smooth = gaussian_filter(noisy, float(sigma))
        r = score(smooth)["pearson"]
        if r > best[0]:
            best = (r, float(sigma), smooth)
    return best[2], best[1]


def train_and_restore(
    name: str,
    sim: Any,
    *,
    steps_scale: float,
    device: str,
    params: dict[str, Any],
    seed: int,
    train_fields: dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train ``name`` with its default budget (scaled) and restore the tomogram."""
    from tomorestore.methods import get_method
    from tomorestore.training.config import make_config, make_wedge
    from tomorestore.training.engine import train_events
    from tomorestore.training.events import Finished, Validated

    method = "ei" if name == "ei-single" else name
    cls = get_method(method)
    halves = [sim.full] if name in ("n2v", "ei-single") else [sim.even, sim.odd]
    steps = max(1, round(cls.default_steps * steps_scale))
    fields: dict[str, Any] = {"method": method, "steps": steps, "device": device, "seed": seed}
    fields["preview_every"] = 0
    fields["validate_every"] = max(1, steps // 4)
    if cls.needs_wedge:
        fields["wedge"] = make_wedge(TILT_RANGE)
    if params:
        fields["params"] = params
    fields.update(train_fields or {})
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
    restored = model.restore(halves, device=device)
    done = time.perf_counter()
    info = {
        "steps": steps,
        "train_s": trained - start,
        "restore_s": done - trained,
        "val_losses": val_losses,
        "config": model.config.model_dump(mode="json"),
    }
    return restored, info


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| volume | Pearson r | r without Z profile | Fourier corr. in wedge (≥10°) "
        "| Fourier corr. measured (≥10°) | steps | time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        time_s = f"{row['time_s']:.0f} s" if row.get("time_s") else "–"
        steps = str(row.get("steps", "–"))
        lines.append(
            f"| {row['name']} | {row['pearson']:.3f} | {row['structure']:.3f} | "
            f"{row['wedge']:.3f} | "
            f"{row['measured']:.3f} | {steps} | {time_s} |"
        )
    return "\n".join(lines)


START, END = "<!-- quality-table:start -->", "<!-- quality-table:end -->"


def write_table(path: Path, text: str) -> None:
    """Put ``text`` between the table markers of ``path`` (created if missing)."""
    block = f"{START}\n{text}\n{END}"
    if path.exists() and START in (old := path.read_text(encoding="utf-8")) and END in old:
        new = old[: old.index(START)] + block + old[old.index(END) + len(END) :]
    else:
        new = f"# Restoration quality\n\n{block}\n"
    path.write_text(new, encoding="utf-8")


def figure(path: Path, volumes: list[tuple[str, np.ndarray]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(volumes)
    fig, axes = plt.subplots(n, 2, figsize=(7.5, 2.3 * n), width_ratios=[1, 1],
                             squeeze=False)  # fmt: skip
    for row, (name, vol) in enumerate(volumes):
        z, y, _ = (s // 2 for s in vol.shape)
        lo, hi = np.percentile(vol, [1, 99])
        axes[row, 0].imshow(vol[z], cmap="gray", vmin=lo, vmax=hi)
        axes[row, 1].imshow(vol[:, y, :], cmap="gray", vmin=lo, vmax=hi)
        axes[row, 0].set_ylabel(name, fontsize=9)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("central XY slice", fontsize=9)
    axes[0, 1].set_title("central XZ slice (Z up-down)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from tomorestore.simulate import simulate_tomogram

    params = overrides(args.set)
    params["train"] = overrides([f"train.{item}" for item in args.train]).get("train", {})
    sim = simulate_tomogram(tuple(args.shape), tilt_range=TILT_RANGE, tilt_step=3.0,
                            snr=args.snr, seed=args.seed)  # fmt: skip
    score = Scorer(sim.ground_truth)
    rows: list[dict[str, Any]] = [
        {"name": "raw tomogram (full)", **score(sim.full)},
        {"name": "noise-free back-projection (reference only)", **score(sim.wedge_only)},
    ]
    volumes = [("ground truth", sim.ground_truth), ("raw", sim.full)]
    start = time.perf_counter()
    smooth, sigma = best_gaussian(sim.full, score)
    rows.append({"name": f"oracle Gaussian (σ={sigma:g})", **score(smooth),
                 "time_s": time.perf_counter() - start})  # fmt: skip
    volumes.append((f"Gaussian σ={sigma:g}", smooth))
    print(table(rows), flush=True)
    details = {}
    for name in [m for m in METHOD_ORDER if m in args.methods]:
        torch.manual_seed(args.seed)
        method_params = params.get("ei" if name == "ei-single" else name, {})
        restored, info = train_and_restore(name, sim, steps_scale=args.steps_scale,
                                           device=args.device, params=method_params,
                                           seed=args.seed,
                                           train_fields=params.get("train", {}))  # fmt: skip
        rows.append({"name": name, **score(restored), "steps": info["steps"],
                     "time_s": info["train_s"] + info["restore_s"]})  # fmt: skip
        details[name] = info
        volumes.append((name, restored))
        print(f"{name}: {rows[-1]}  val losses {info['val_losses']}", flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        header = (
            f"Simulated tomogram {tuple(args.shape)}, tilt {TILT_RANGE[0]:g}…{TILT_RANGE[1]:g}° "
            f"step 3°, projection SNR {args.snr:g}, seed {args.seed}; default budgets "
            f"× {args.steps_scale:g}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} CPU threads.\n\n"
        )
        write_table(args.out / "quality.md", header + text)
        figure(args.out / "quality.png", volumes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

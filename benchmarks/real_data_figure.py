"""Restorations of a real tomogram crop, one per method, beside the raw: a PNG for docs.

Trains each method on one real tomogram (no even/odd halves, no ground truth) with the
CLI's defaults for its size, restores it, and draws the central XY and XZ slices of the
raw and of every restoration (each slice scaled to its own 1st-99th percentile; XZ drawn
with the voxel aspect). The restorations are kept as MRC files in ``--workdir`` so that
``--reuse`` redraws the figure without training again.

The default input is the development crop ``../shared/data/13pf_MT.tif`` (a
13-protofilament microtubule, 36 x 206 x 94 voxels, tilt range not recorded, about
+-60 degrees). It is not part of the repository: pass another tomogram with ``--input``.

Examples
--------
python benchmarks/real_data_figure.py                       # n2v, ei, n2n: docs/real_data.png
python benchmarks/real_data_figure.py --methods n2v,ei,dewedge --workdir /tmp/real --reuse
python benchmarks/real_data_figure.py --methods n2v,ei --set 'ei.data_term="n2n"' \
    --method-steps ei=900                                   # method parameters, own budgets
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from overrides import overrides

HERE = Path(__file__).resolve().parent
DEFAULT_INPUT = HERE.parent.parent / "shared" / "data" / "13pf_MT.tif"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="the tomogram")
    parser.add_argument("--methods", default="n2v,ei,n2n", help="comma-separated methods")
    parser.add_argument("--tilt-range", type=float, nargs=2, default=(-60.0, 60.0),
                        metavar=("MIN", "MAX"), help="degrees (default -60 60)")  # fmt: skip
    parser.add_argument("--patch", type=int, default=32, help="training patch edge")
    parser.add_argument("--steps", type=int, help="training steps (default: each method's)")
    parser.add_argument("--method-steps", action="append", default=[], metavar="METHOD=N",
                        help="steps for one method (overrides --steps for it)")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE",
                        help="a method parameter, the value as JSON (repeatable)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "real_data.png")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/tomorestore-real-data"))
    parser.add_argument("--reuse", action="store_true", help="reuse restorations in --workdir")
    return parser.parse_args(argv)


def restore_with(method: str, args: argparse.Namespace) -> tuple[Path, str]:
    """Train ``method`` on the input and restore it; return the MRC path and a caption."""
    import tomorestore

    params = overrides(args.set).get(method, {})
    steps = {m: int(n) for m, _, n in (s.partition("=") for s in args.method_steps)}
    settings = {"input": str(args.input), "tilt_range": list(args.tilt_range),
                "patch": args.patch, "steps": steps.get(method, args.steps), "seed": args.seed,
                "params": params}  # fmt: skip
    restored = args.workdir / f"{method}.mrc"
    caption_file = args.workdir / f"{method}.txt"
    settings_file = args.workdir / f"{method}.json"
    same = settings_file.exists() and json.loads(settings_file.read_text()) == settings
    if args.reuse and same and restored.exists() and caption_file.exists():
        return restored, caption_file.read_text().strip()
    model_path = args.workdir / f"{method}.ckpt"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = tomorestore.train(
            method, input=args.input, tilt_range=tuple(args.tilt_range),
            steps=settings["steps"], patch_size=args.patch, device="cpu", out=model_path,
            seed=args.seed, progress=False, **params,
        )  # fmt: skip
    trained = time.perf_counter() - start
    tomorestore.restore(model, input=args.input, out=restored, device="cpu", progress=False)
    caption = f"{method}: weights of step {model.step} of {model.config.steps}, {trained:.0f} s"
    caption_file.write_text(caption + "\n")
    settings_file.write_text(json.dumps(settings) + "\n")
    print(caption, flush=True)
    return restored, caption


def _scaled(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1, 99))
    return np.clip((image - low) / max(high - low, 1e-12), 0.0, 1.0)


def draw(
    panels: list[tuple[str, np.ndarray]], voxel: tuple[float, float, float], out: Path
) -> None:
    """One column per volume: its central XY slice above its central XZ slice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z, y, x = panels[0][1].shape
    ratio = voxel[0] / voxel[2]  # Z over X voxel edge: XZ drawn to scale
    column_width = 2.2
    heights = (y, z * ratio)
    figure, axes = plt.subplots(
        2, len(panels), squeeze=False, gridspec_kw={"height_ratios": heights},
        figsize=(column_width * len(panels), column_width * (y + z * ratio) / x + 0.8),
    )  # fmt: skip
    for column, (caption, volume) in enumerate(panels):
        axes[0, column].imshow(_scaled(volume[z // 2]), cmap="gray", interpolation="nearest")
        axes[1, column].imshow(_scaled(volume[:, y // 2, :]), cmap="gray",
                               interpolation="nearest", aspect=ratio)  # fmt: skip
        axes[0, column].set_title(caption, fontsize=8)
        axes[0, column].set_ylabel(f"XY, z = {z // 2}", fontsize=7)
        axes[1, column].set_ylabel(f"XZ, y = {y // 2}", fontsize=7)
        for axis in axes[:, column]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.stem + ".partial" + out.suffix)
    figure.savefig(temporary, dpi=130)
    temporary.replace(out)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tomorestore.io import read_volume

    if not args.input.exists():
        raise SystemExit(f"{args.input} does not exist: pass a tomogram with --input")
    args.workdir.mkdir(parents=True, exist_ok=True)
    raw = read_volume(args.input)
    panels = [(f"raw {'x'.join(map(str, raw.data.shape))}", np.asarray(raw.data, np.float32))]
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        path, caption = restore_with(method, args)
        panels.append((caption, np.asarray(read_volume(path).data, np.float32)))
    draw(panels, tuple(raw.voxel_size), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Make docs/screenshot.png: napari with the three tomorestore widgets beside a restoration.

A scripted napari session, the same calls a user's script would make:

    xvfb-run -a python docs/make_screenshot.py           # (a display is needed)
    python docs/make_screenshot.py --steps 300 --out my.png

It opens the synthetic sample (even/odd halves of a simulated tomogram with a -60°..60°
wedge), trains the missing-wedge method for a short CPU budget, restores, and shows the raw
tomogram and the restoration side by side (napari grid mode) with the wedge spectrum.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication


def wait_while(condition, timeout: float) -> None:
    """Process Qt events until ``condition()`` is false (or ``timeout`` seconds pass)."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout
    while condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def open_sample(viewer: napari.Viewer) -> None:
    """The plugin's synthetic sample, or the same simulation made directly."""
    try:
        viewer.open_sample("tomorestore", "synthetic_tomogram")
    except Exception:  # noqa: BLE001 - the sample contribution may be absent in old manifests
        from tomorestore.simulate import simulate_tomogram

        sim = simulate_tomogram(shape=(48, 96, 96), seed=0)
        for label in ("full", "even", "odd"):
            viewer.add_image(
                getattr(sim, label),
                name=f"synthetic {label}",
                scale=sim.voxel_size,
                units=("angstrom",) * 3,
                metadata={"tilt_range": sim.tilt_range},
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250, help="training steps (CPU budget)")
    parser.add_argument("--method", default="dewedge")
    parser.add_argument("--out", default=str(Path(__file__).with_name("screenshot.png")))
    args = parser.parse_args()

    viewer = napari.Viewer(title="tomorestore")
    viewer.window._qt_window.resize(1650, 1000)
    open_sample(viewer)
    for layer in list(viewer.layers):
        if "truth" in layer.name:
            viewer.layers.remove(layer)

    _, data = viewer.window.add_plugin_dock_widget("tomorestore", "Data and wedge")
    _, train = viewer.window.add_plugin_dock_widget("tomorestore", "Train", tabify=False)
    _, restore = viewer.window.add_plugin_dock_widget("tomorestore", "Restore")
    data.set_halves("synthetic even", "synthetic odd")
    data.set_tilt_range(-60, 60)

    train.set_parameters(
        method=args.method,
        steps=args.steps,
        batch_size=2,
        patch_size=32,
        depth=2,
        base_channels=16,
        preview_every=25,
        validate_every=25,
        device="cpu",
    )
    started = time.monotonic()
    if not train.start():
        raise SystemExit("training did not start (see the notification)")
    wait_while(lambda: train.running, timeout=1800)
    print(f"trained {args.steps} steps in {time.monotonic() - started:.0f} s")

    restore.set_parameters(tile=48, disagreement=True, device="cpu")
    if not restore.start():
        raise SystemExit("restoration did not start (see the notification)")
    wait_while(lambda: restore.running, timeout=600)
    result = restore.result_layer
    print(f"restored into {result.name!r}, scale {tuple(result.scale)}")

    # Raw full tomogram beside the restoration, same slice, grid mode (only these two).
    for layer in list(viewer.layers):
        if layer.name not in ("synthetic full", result.name):
            layer.visible = False
    viewer.layers.move(viewer.layers.index(result.name), len(viewer.layers) - 1)
    viewer.grid.enabled = True
    viewer.grid.shape = (1, 2)
    viewer.grid.stride = 1
    viewer.text_overlay.visible = True
    # napari places visible layers left to right from the bottom of the layer list up
    viewer.text_overlay.text = f"left: synthetic full (raw)    right: {result.name}"
    viewer.text_overlay.font_size = 12
    viewer.dims.set_point(0, viewer.dims.range[0].start + viewer.dims.range[0].stop / 2)
    viewer.reset_view()
    wait_while(lambda: True, timeout=1.0)
    viewer.screenshot(path=args.out, canvas_only=False, flash=False)
    print(f"wrote {args.out}")
    viewer.close()


if __name__ == "__main__":
    main()

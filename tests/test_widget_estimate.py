"""The *Estimate* button of the "Data and wedge" widget fills the tilt range from the data.

GUI tests: run under a virtual display, ``xvfb-run -a pytest tests/test_widget_estimate.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from tomorestore._napari._widgets import DataWedgeWidget  # noqa: E402

pytestmark = pytest.mark.gui

TILT_RANGE = (-48.0, 62.0)


def _wedged(tilt_range=TILT_RANGE, seed=0, shape=(64, 64, 64)) -> np.ndarray:
    import torch

    from tomorestore.physics import MissingWedge

    noise = torch.as_tensor(np.random.default_rng(seed).standard_normal(shape), dtype=torch.float32)
    return MissingWedge(*tilt_range).apply(noise).numpy()


@pytest.fixture
def shown(monkeypatch) -> dict[str, list[str]]:
    """Messages of the notifications shown during the test, by kind."""
    messages: dict[str, list[str]] = {"error": [], "warning": [], "info": []}
    for kind, store in messages.items():
        monkeypatch.setattr(f"napari.utils.notifications.show_{kind}", store.append)
    return messages


def _tilt(data: DataWedgeWidget) -> tuple[float, float]:
    return (data.wedge_form.tilt_min.value, data.wedge_form.tilt_max.value)


def test_estimate_fills_the_tilt_range_and_shows_the_confidence(make_napari_viewer, shown):
    viewer = make_napari_viewer()
    viewer.add_image(_wedged(), name="tomo", scale=(10.0, 10.0, 10.0))
    data = DataWedgeWidget(viewer)
    data.set_single("tomo")
    data.set_tilt_range(None)  # "tilt range known" unticked: the estimate ticks it
    estimate = data.estimate_wedge()
    assert estimate is not None and estimate.confidence > 0.9
    assert _tilt(data) == pytest.approx(TILT_RANGE, abs=1.0)
    assert data.wedge_check.value is True
    assert data.session.selection.tilt_range == pytest.approx(estimate.tilt_range, abs=0.01)
    assert f"(estimated, confidence {estimate.confidence:.2f})" in data.summary_label.text()
    assert any("estimated from its power spectrum" in m for m in shown["info"])
    data.set_tilt_range(-60, 60)  # the user's own range: no longer called an estimate
    assert "estimated" not in data.summary_label.text()


def test_estimate_button_runs_in_a_thread_worker(make_napari_viewer, qtbot, shown):
    viewer = make_napari_viewer()
    viewer.add_image(_wedged(), name="tomo")
    data = DataWedgeWidget(viewer)
    data.set_single("tomo")
    data.set_tilt_range(-60, 60)
    data.estimate_button.changed.emit(True)  # what a click does
    worker = data.estimate_worker
    assert worker is not None
    assert data.estimate_button.enabled is False
    with qtbot.waitSignal(worker.finished, timeout=20000):
        pass
    qtbot.waitUntil(lambda: data.estimate_button.enabled, timeout=5000)
    assert _tilt(data) == pytest.approx(TILT_RANGE, abs=1.0)
    assert "estimated, confidence" in data.summary_label.text()
    assert data.estimate_worker is None and not shown["error"]


def test_even_half_is_used_in_halves_mode(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(_wedged((-62.0, 48.0), seed=1), name="tomo even")
    viewer.add_image(_wedged((-62.0, 48.0), seed=2), name="tomo odd")
    viewer.add_image(_wedged((-30.0, 30.0), seed=3), name="other")
    data = DataWedgeWidget(viewer)
    data.set_halves("tomo even", "tomo odd")
    data.estimate_wedge()
    assert _tilt(data) == pytest.approx((-62.0, 48.0), abs=1.0)


def test_doubtful_estimate_leaves_the_range_and_warns(make_napari_viewer, shown):
    viewer = make_napari_viewer()
    noise = np.random.default_rng(0).standard_normal((48, 48, 48)).astype(np.float32)
    viewer.add_image(noise, name="noise")
    data = DataWedgeWidget(viewer)
    data.set_single("noise")
    data.set_tilt_range(-55, 55)
    estimate = data.estimate_wedge()
    assert estimate is not None and estimate.confidence < 0.5
    assert _tilt(data) == (-55.0, 55.0)
    assert any("no clear missing wedge" in m for m in shown["warning"])
    assert "estimated" not in data.summary_label.text()


def test_estimate_without_a_tomogram_is_reported(make_napari_viewer, shown):
    data = DataWedgeWidget(make_napari_viewer())
    assert data.estimate_wedge() is None
    assert data.start_estimate() is None
    assert len(shown["error"]) == 2 and "No tomogram layer" in shown["error"][-1]

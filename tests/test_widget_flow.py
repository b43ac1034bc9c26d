"""Whole napari sessions driven from Python: data → train (tiny net) → restore → save.

GUI tests: ``OMP_NUM_THREADS=1 xvfb-run -a pytest tests/test_widget_flow.py``. Every
training here is 2-5 steps of a depth-1, 4-channel U-Net on 32³ volumes.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from tomorestore.training import Finished, Preview, Started, Step, Validated  # noqa: E402

pytestmark = pytest.mark.gui

TINY = {
    "batch_size": 1,
    "patch_size": 16,
    "depth": 1,
    "base_channels": 4,
    "validate_every": 2,
    "preview_every": 2,
    "device": "cpu",
    "fast": False,
}
TIMEOUT_MS = 120_000


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    """Messages of error notifications shown during the test."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    return shown


@pytest.fixture
def halves_viewer(make_napari_viewer):
    """A viewer with 32³ even/odd layers of a wedge-filtered phantom (scale, translate, Å)."""
    import torch

    from tomorestore.physics import MissingWedge

    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:32, :32, :32]
    phantom = ((z - 16) ** 2 / 40 + (y - 14) ** 2 / 90 + (x - 17) ** 2 / 60 < 1).astype(float)
    wedge = MissingWedge(-60.0, 60.0)
    viewer = make_napari_viewer()
    for seed, name in enumerate(("cell even", "cell odd")):
        noisy = phantom + 0.7 * np.random.default_rng(seed).standard_normal(phantom.shape)
        data = wedge.apply(torch.from_numpy(noisy).float()).numpy()
        viewer.add_image(
            data.astype(np.float32),
            name=name,
            scale=(12.0, 10.0, 10.0),
            translate=(100.0, 50.0, 0.0),
            units=("angstrom",) * 3,
        )
    del rng
    return viewer


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget("tomorestore", name)[1]


def test_data_train_restore_save(halves_viewer, qtbot, tmp_path, errors):
    viewer = halves_viewer
    data, train, restore = (_dock(viewer, n) for n in ("Data and wedge", "Train", "Restore"))
    data.set_halves("cell even", "cell odd")
    data.set_tilt_range(-60, 60)
    train.set_parameters(method="dewedge", steps=3, **TINY)

    assert train.start()
    assert train.running and train.worker is not None
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    assert errors == []
    kinds = [type(e) for e in train.events]
    assert kinds[0] is Started and kinds[-1] is Finished
    assert kinds.count(Step) == 3 and Validated in kinds and Preview in kinds
    assert [s for s, _ in train.loss_plot.train] == [1, 2, 3]
    assert train.loss_plot.validation  # validation curve drawn
    preview = viewer.layers["cell preview"]
    assert preview.data.shape == (32, 32)
    assert tuple(preview.scale) == (10.0, 10.0)
    assert train.model is not None and train.model.step == 3
    assert restore.model is train.model  # shared through the viewer's session

    restore.set_parameters(tile=16, overlap=0.25, disagreement=True, device="cpu")
    even_before = viewer.layers["cell even"].data.copy()
    assert restore.start()
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert errors == []
    result = viewer.layers["cell restored (dewedge)"]
    assert restore.result_layer.name == result.name
    assert result.data.shape == (32, 32, 32) and result.data.dtype == np.float32
    assert tuple(result.scale) == (12.0, 10.0, 10.0)
    assert tuple(result.translate) == (100.0, 50.0, 0.0)
    assert [str(u) for u in result.units] == ["angstrom"] * 3
    meta = result.metadata["tomorestore"]
    assert meta["method"] == "dewedge"
    assert meta["wedge"] == {"tilt_min": -60.0, "tilt_max": 60.0, "tilt_axis": "Y"}
    assert meta["model_path"] and meta["source"] == ["cell even", "cell odd"]
    disagreement = viewer.layers["cell disagreement (dewedge)"]
    assert disagreement.data.shape == (32, 32, 32) and (disagreement.data >= 0).all()
    # both layers come from the core's one prediction path (one shared normalisation)
    halves = [viewer.layers[name].data for name in ("cell even", "cell odd")]
    combined, parts = train.model.restore_parts(halves, tile=16, overlap=0.25, device="cpu")
    np.testing.assert_allclose(result.data, combined, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(disagreement.data, np.abs(parts[0] - parts[1]), atol=1e-5)
    np.testing.assert_array_equal(viewer.layers["cell even"].data, even_before)  # untouched

    from tomorestore.io import read_volume

    path = restore.save_result(tmp_path / "restored.mrc")
    volume = read_volume(path)
    assert volume.shape == (32, 32, 32)
    np.testing.assert_allclose(volume.voxel_size, (12.0, 10.0, 10.0), rtol=1e-5)
    np.testing.assert_allclose(volume.data, result.data, rtol=1e-6, atol=1e-6)


def test_single_tomogram_n2v_alone(make_napari_viewer, qtbot, errors):
    """Train and Restore used without the data widget: the active layer is the input."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(3)
    viewer.add_image(
        rng.standard_normal((32, 32, 32)).astype(np.float32), name="raw", scale=(5.0, 5.0, 5.0)
    )
    train = _dock(viewer, "Train")
    train.set_parameters(method="n2v", steps=2, **TINY)
    assert train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    restore = _dock(viewer, "Restore")
    restore.set_parameters(tile=16, device="cpu")
    assert restore.start()
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert errors == []
    assert viewer.layers["raw restored (n2v)"].data.shape == (32, 32, 32)
    assert tuple(viewer.layers["raw restored (n2v)"].scale) == (5.0, 5.0, 5.0)


@pytest.mark.parametrize("how", ["stop button", "progress bar cancel"])
def test_stop_mid_training_keeps_a_checkpointed_model(halves_viewer, qtbot, errors, how):
    viewer = halves_viewer
    data, train = _dock(viewer, "Data and wedge"), _dock(viewer, "Train")
    data.set_tilt_range(None)
    train.set_parameters(method="n2n", steps=10_000, **TINY)
    assert train.start()
    qtbot.waitUntil(lambda: any(isinstance(e, Step) for e in train.events), timeout=TIMEOUT_MS)
    if how == "stop button":
        train.stop_button.click()
    else:
        train.progress.bar.cancel()  # what the cancel button of napari's progress bar does
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    finished = train.events[-1]
    assert isinstance(finished, Finished) and finished.stopped
    assert finished.step < 10_000
    assert finished.checkpoint_path is not None and finished.checkpoint_path.exists()
    assert train.model is finished.model
    assert errors == []


def test_save_load_and_continue_training(halves_viewer, qtbot, tmp_path, errors):
    viewer = halves_viewer
    data, train = _dock(viewer, "Data and wedge"), _dock(viewer, "Train")
    data.set_tilt_range(None)
    train.set_parameters(method="n2n", steps=2, **TINY)
    assert train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    saved = train.save_model(tmp_path / "model.ckpt")
    assert saved is not None and saved.exists()
    assert (tmp_path / "model.last.ckpt").exists()  # the last state travels with the model
    assert train.model.config.network.depth == 1  # the form's depth ...
    assert train.model.config.network.norm == "none"  # ... with n2n's own normalisation

    restore = _dock(viewer, "Restore")
    loaded = restore.load_model(saved)
    assert loaded.step == 2 and train.model is loaded  # the session's model changed
    train.set_parameters(steps=2, continue_training=True)
    assert train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    started = train.events[0]
    assert isinstance(started, Started) and started.start_step == 2
    assert train.model.step == 4
    assert errors == []


def test_bad_model_file_is_a_notification(make_napari_viewer, tmp_path, errors):
    viewer = make_napari_viewer()
    restore = _dock(viewer, "Restore")
    bad = tmp_path / "not_a_model.ckpt"
    bad.write_bytes(b"garbage")
    assert restore.load_model(bad) is None
    assert errors and "Could not load the model" in errors[-1]
    assert restore.model is None


def test_cancelled_restore_adds_no_layer(halves_viewer, qtbot, errors):
    viewer = halves_viewer
    train, restore = _dock(viewer, "Train"), _dock(viewer, "Restore")
    _dock(viewer, "Data and wedge").set_tilt_range(None)
    train.set_parameters(method="n2n", steps=2, **TINY)
    train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    layers_before = len(viewer.layers)
    restore.set_parameters(tile=8, overlap=0.5, device="cpu")
    assert restore.start()
    restore.stop()  # cancelled before it can finish
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert len(viewer.layers) == layers_before
    assert restore.result_layer is None
    assert errors == []


def test_removing_the_train_widget_stops_its_worker(halves_viewer, qtbot):
    viewer = halves_viewer
    _dock(viewer, "Data and wedge").set_tilt_range(None)
    train = _dock(viewer, "Train")
    train.set_parameters(method="n2n", steps=10_000, **TINY)
    assert train.start()
    worker = train.worker
    qtbot.waitUntil(lambda: len(train.events) >= 2, timeout=TIMEOUT_MS)
    viewer.window.remove_dock_widget(train)
    assert not train.running
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)
    steps = len(train.events)
    qtbot.wait(200)
    assert len(train.events) == steps  # nothing of the aborted run is handled any more


def test_closing_the_viewer_stops_training(halves_viewer, qtbot):
    viewer = halves_viewer
    _dock(viewer, "Data and wedge").set_tilt_range(None)
    train = _dock(viewer, "Train")
    train.set_parameters(method="n2n", steps=10_000, **TINY)
    assert train.start()
    worker = train.worker
    qtbot.waitUntil(lambda: len(train.events) >= 2, timeout=TIMEOUT_MS)
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)
    assert not train.controller.running
    assert len(train.events) < 100


def test_mrc_opened_with_the_plugin_reader_keeps_its_geometry(
    make_napari_viewer, qtbot, tmp_path, errors
):
    from tomorestore.io import read_volume, write_volume

    data = np.random.default_rng(5).standard_normal((32, 32, 32)).astype(np.float32)
    path = write_volume(
        tmp_path / "tomo.mrc", data, voxel_size=(12.0, 10.0, 8.0), origin=(24.0, 20.0, 16.0)
    )
    viewer = make_napari_viewer()
    [source] = viewer.open(path, plugin="tomorestore")
    train, restore = _dock(viewer, "Train"), _dock(viewer, "Restore")
    train.set_parameters(method="n2v", steps=2, **TINY)
    assert train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    restore.set_parameters(tile=16, device="cpu")
    assert restore.start()
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert errors == []
    result = viewer.layers["tomo restored (n2v)"]
    np.testing.assert_allclose(result.scale, (12.0, 10.0, 8.0))
    np.testing.assert_allclose(result.translate, source.translate)
    saved = read_volume(restore.save_result(tmp_path / "restored.mrc"))
    np.testing.assert_allclose(saved.voxel_size, (12.0, 10.0, 8.0), rtol=1e-5)
    np.testing.assert_allclose(saved.origin, read_volume(path).origin, atol=1e-3)


def test_tilt_axis_x_keeps_the_orientation(make_napari_viewer, qtbot, errors):
    """The wedge goes to the core with its tilt axis; everything stays in the layer's frame."""
    viewer = make_napari_viewer()
    data = np.random.default_rng(6).standard_normal((32, 24, 40)).astype(np.float32)
    viewer.add_image(data, name="lamella", scale=(10.0, 9.0, 8.0))
    data_widget, train = _dock(viewer, "Data and wedge"), _dock(viewer, "Train")
    restore = _dock(viewer, "Restore")
    data_widget.set_single("lamella")
    data_widget.set_tilt_range(-45, 55, tilt_axis="X")
    train.set_parameters(method="ei", steps=2, **TINY)
    assert train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    assert viewer.layers["lamella preview"].data.shape == (24, 40)
    assert train.model.config.wedge.tilt_axis == "X"
    assert train.model.voxel_size == (10.0, 9.0, 8.0)  # the layer's frame
    restore.set_parameters(tile=16, device="cpu")
    assert restore.start()
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert errors == []
    result = viewer.layers["lamella restored (ei)"]
    assert result.data.shape == (32, 24, 40)
    assert tuple(result.scale) == (10.0, 9.0, 8.0)
    assert result.metadata["tomorestore"]["wedge"]["tilt_axis"] == "X"

"""A data set in napari: several tomograms (or even/odd pairs) train one model, restore each.

GUI tests: ``OMP_NUM_THREADS=1 xvfb-run -a pytest tests/test_widget_dataset.py``. Training
runs are 2 steps of a depth-1, 4-channel U-Net on 32³ volumes.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from tomorestore.training import Started  # noqa: E402

pytestmark = pytest.mark.gui

TINY = {
    "batch_size": 1,
    "patch_size": 16,
    "depth": 1,
    "base_channels": 4,
    "validate_every": 2,
    "preview_every": 0,
    "device": "cpu",
    "fast": False,
}
TIMEOUT_MS = 120_000
SCALE = (12.0, 10.0, 10.0)


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    """Messages of error notifications shown during the test."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    return shown


def _volume(seed: int, shape=(32, 32, 32)) -> np.ndarray:
    """A noisy ellipsoid (different per seed), float32."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    centre = 12 + 8 * rng.random(3)
    blob = ((z - centre[0]) ** 2 / 40 + (y - centre[1]) ** 2 / 90 + (x - centre[2]) ** 2 / 60) < 1
    return (blob + 0.7 * rng.standard_normal(shape)).astype(np.float32)


def _add(viewer, name: str, seed: int, *, shape=(32, 32, 32), scale=SCALE, translate=(0, 0, 0)):
    return viewer.add_image(
        _volume(seed, shape), name=name, scale=scale, translate=translate, units=("angstrom",) * 3
    )


@pytest.fixture
def singles_viewer(make_napari_viewer):
    """Two 32³ tomograms 't1' and 't2' of one voxel size, at different positions."""
    viewer = make_napari_viewer()
    _add(viewer, "t1", 1)
    _add(viewer, "t2", 2, translate=(0.0, 0.0, 400.0))
    return viewer


@pytest.fixture
def pairs_viewer(make_napari_viewer):
    """Even/odd pairs 'a even'/'a odd' and 'b even'/'b odd' (32³, one voxel size)."""
    viewer = make_napari_viewer()
    for seed, stem in enumerate(("a", "b")):
        _add(viewer, f"{stem} even", 10 * seed + 1)
        _add(viewer, f"{stem} odd", 10 * seed + 2)
    return viewer


def _docks(viewer, *names):
    return [viewer.window.add_plugin_dock_widget("tomorestore", n)[1] for n in names]


def test_two_tomograms_train_one_model_and_restore_each(singles_viewer, qtbot, tmp_path, errors):
    viewer = singles_viewer
    data, train, restore = _docks(viewer, "Data and wedge", "Train", "Restore")
    data.set_tilt_range(None)
    assert data.set_dataset(["t1", "t2"])
    assert [entry.layers for entry in data.dataset] == [("t1",), ("t2",)]
    assert data.session.selection.dataset == data.dataset  # shared with Train and Restore
    assert "2 tomograms" in data.dataset_section.summary.value
    assert "data set of 2 tomograms" in train.data_label.text()

    train.set_parameters(method="n2v", steps=2, **TINY)
    assert train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    assert errors == []
    started = train.events[0]
    assert isinstance(started, Started)
    assert any("2 tomograms" in note for note in started.notes)  # one model, both tomograms
    assert "2 tomograms" in train.notes_label.text()
    model = train.model
    assert model is not None and model.step == 2
    assert model.voxel_size == SCALE

    assert restore.form.whole_dataset.enabled
    restore.set_parameters(tile=16, overlap=0.25, device="cpu")
    assert restore.start()
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert errors == []
    names = [layer.name for layer in restore.result_layers]
    assert names == ["t1 restored (n2v)", "t2 restored (n2v)"]
    for source_name, layer in zip(("t1", "t2"), restore.result_layers, strict=True):
        source = viewer.layers[source_name]
        assert layer.data.shape == (32, 32, 32)
        assert tuple(layer.scale) == SCALE  # the voxel size is kept
        assert tuple(layer.translate) == tuple(source.translate)
        assert layer.metadata["tomorestore"]["source"] == [source_name]
        expected = model.restore(source.data, tile=16, overlap=0.25, device="cpu")
        np.testing.assert_allclose(layer.data, expected, rtol=1e-5, atol=1e-5)
    assert restore.result_layer is restore.result_layers[-1]
    assert "Restored 2 tomograms" in restore.status_label.text()
    assert restore.save_button.text() == "Save results as MRC…"
    saved = restore.save_results(tmp_path)
    assert [path.name for path in saved] == ["t1_restored_n2v.mrc", "t2_restored_n2v.mrc"]
    from tomorestore.io import read_volume

    volume = read_volume(saved[1])
    np.testing.assert_allclose(volume.voxel_size, SCALE, rtol=1e-5)
    np.testing.assert_allclose(volume.data, restore.result_layers[1].data, atol=1e-6)
    assert restore.save_results(tmp_path) == []  # never overwritten
    assert "exists already" in errors[-1]
    errors.clear()

    # only the tomogram chosen above: one more layer, of that tomogram
    data.set_single("t2")
    restore.set_parameters(whole_dataset=False)
    assert restore.start()
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert len(restore.result_layers) == 1
    assert restore.result_layer.metadata["tomorestore"]["source"] == ["t2"]
    assert errors == []


def test_pairs_keep_their_own_tilt_ranges(pairs_viewer, qtbot, errors):
    viewer = pairs_viewer
    data, train, restore = _docks(viewer, "Data and wedge", "Train", "Restore")
    data.set_halves("a even", "a odd")
    data.set_tilt_range(-60, 60)
    assert data.add_to_dataset()
    data.set_halves("b even", "b odd")
    data.set_tilt_range(-50, 55)
    assert data.add_to_dataset()
    data.set_halves("a even", "a odd")
    data.set_tilt_range(-58, 58)
    assert data.add_to_dataset()  # the same pair again: its tilt range is updated
    entries = data.dataset
    assert [entry.layers for entry in entries] == [("a even", "a odd"), ("b even", "b odd")]
    assert [entry.tilt_range for entry in entries] == [(-58.0, 58.0), (-50.0, 55.0)]
    assert data.dataset_section.texts() == [  # the list shows each pair's own range
        "'a even' + 'a odd': -58° to 58° about Y",
        "'b even' + 'b odd': -50° to 55° about Y",
    ]
    assert train.method_usable()["dewedge"]  # every pair has halves and a tilt range

    train.set_parameters(method="dewedge", steps=2, **TINY)
    assert train.start()
    qtbot.waitUntil(lambda: not train.running, timeout=TIMEOUT_MS)
    assert errors == []
    assert any("2 tomograms" in note for note in train.events[0].notes)

    restore.set_parameters(tile=16, device="cpu", disagreement=True)
    assert restore.start()
    qtbot.waitUntil(lambda: not restore.running, timeout=TIMEOUT_MS)
    assert errors == []
    a, b = restore.result_layers
    assert (a.name, b.name) == ("a restored (dewedge)", "b restored (dewedge)")
    assert b.metadata["tomorestore"]["wedge"] == {
        "tilt_min": -50.0,
        "tilt_max": 55.0,
        "tilt_axis": "Y",
    }
    assert tuple(b.scale) == SCALE
    assert viewer.layers["b disagreement (dewedge)"].data.shape == (32, 32, 32)
    wedge = b.metadata["tomorestore"]["wedge"]
    from tomorestore.training.config import make_wedge

    halves = [viewer.layers[n].data for n in ("b even", "b odd")]
    expected = train.model.restore(
        halves,
        tile=16,
        device="cpu",
        wedge=make_wedge((wedge["tilt_min"], wedge["tilt_max"])),
    )
    np.testing.assert_allclose(b.data, expected, rtol=1e-5, atol=1e-5)  # b's own wedge


def test_mismatched_halves_are_refused(pairs_viewer, errors):
    viewer = pairs_viewer
    _add(viewer, "c even", 5)
    _add(viewer, "c odd", 6, shape=(32, 32, 24))
    (data,) = _docks(viewer, "Data and wedge")
    assert data.set_dataset_pairs([("a even", "a odd"), ("b even", "b odd")])
    errors.clear()
    assert not data.set_dataset_pairs([("a even", "a odd"), ("c even", "c odd")])
    assert errors and "shape (32, 32, 32)" in errors[-1] and "'c odd'" in errors[-1]
    assert [entry.layers[0] for entry in data.dataset] == ["a even", "b even"]  # unchanged
    assert not data.set_dataset_pairs([("a even",)])
    assert "('a even',) is not an (even, odd) pair" in errors[-1]


def test_voxel_sizes_must_match(singles_viewer, qtbot, errors):
    viewer = singles_viewer
    _add(viewer, "t3", 3, scale=(24.0, 20.0, 20.0))
    data, train = _docks(viewer, "Data and wedge", "Train")
    data.set_tilt_range(None)
    assert not data.set_dataset(["t1", "t3"])
    assert "voxel size 24×20×20 Å" in errors[-1] and "12×10×10 Å" in errors[-1]
    assert data.dataset == ()
    data.set_single("t1")
    assert data.add_to_dataset()
    data.set_single("t3")
    errors.clear()
    assert not data.add_to_dataset()
    assert errors and "one model is trained at one voxel size" in errors[-1]
    assert len(data.dataset) == 1

    # a scale changed after the tomograms were added: Train refuses, nothing runs
    data.set_single("t2")
    assert data.add_to_dataset()
    viewer.layers["t2"].scale = (12.0, 10.0, 11.0)
    train.set_parameters(method="n2v", steps=2, **TINY)
    errors.clear()
    assert not train.start()
    assert errors and "voxel size" in errors[-1] and "'t2'" in errors[-1]
    assert not train.running and train.events == [] and train.model is None


def test_all_singles_or_all_pairs_and_a_wedge_for_all_or_none(pairs_viewer, errors):
    viewer = pairs_viewer
    _add(viewer, "whole", 7)
    (data,) = _docks(viewer, "Data and wedge")
    data.set_single("whole")
    data.set_tilt_range(-60, 60)
    assert data.add_to_dataset()
    data.set_halves("a even", "a odd")
    assert not data.add_to_dataset()
    assert "only single tomograms or only even/odd pairs" in errors[-1]

    data.clear_dataset()
    assert data.dataset == () and data.session.selection.dataset == ()
    data.set_halves("a even", "a odd")
    assert data.add_to_dataset()
    data.set_halves("b even", "b odd")
    data.set_tilt_range(None)
    assert not data.add_to_dataset()
    assert "'b even' + 'b odd' has no tilt range" in errors[-1]
    assert len(data.dataset) == 1


def test_the_list_follows_the_layers_and_its_buttons(singles_viewer, qtbot, errors):
    viewer = singles_viewer
    _add(viewer, "t3", 3)
    data, train = _docks(viewer, "Data and wedge", "Train")
    data.set_tilt_range(-60, 60)
    assert data.set_dataset(["t1", "t2", "t3"])
    viewer.layers["t2"].name = "t2 renamed"
    assert [entry.layers for entry in data.dataset] == [("t1",), ("t2 renamed",), ("t3",)]
    assert data.dataset_section.texts()[1] == "'t2 renamed': -60° to 60° about Y"
    warnings: list[str] = []
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("napari.utils.notifications.show_warning", warnings.append)
    try:
        viewer.layers.remove("t3")
        assert [entry.layers for entry in data.dataset] == [("t1",), ("t2 renamed",)]
        qtbot.waitUntil(lambda: bool(warnings), timeout=5000)  # told from the event loop
    finally:
        monkeypatch.undo()
    assert "Removed from the data set" in warnings[-1] and "'t3'" in warnings[-1]
    assert data.session.selection.dataset == data.dataset

    section = data.dataset_section
    section.entry_list.value = [0]  # select the first row, then press Remove
    section.remove_button.changed.emit(True)
    assert [entry.layers for entry in data.dataset] == [("t2 renamed",)]
    section.clear_button.changed.emit(True)
    assert data.dataset == () and not section.clear_button.enabled
    assert "No data set" in section.summary.value
    data.set_single("t1")
    assert train.data_label.text().startswith("Data: t1, tilt -60° to 60°")  # as before
    assert errors == []


def test_method_problems_name_the_tomogram_of_the_data_set(singles_viewer):
    viewer = singles_viewer
    data, train = _docks(viewer, "Data and wedge", "Train")
    data.set_tilt_range(None)
    assert data.set_dataset(["t1", "t2"])
    usable = train.method_usable()
    assert usable["n2v"] and usable["n2n"] and not usable["dewedge"]
    native = train.form.main.method.native
    tips = {native.itemData(i): native.model().item(i).toolTip() for i in range(native.count())}
    assert tips["dewedge"].startswith("t1 of the data set:")


def test_each_tomogram_keeps_its_own_mask(singles_viewer, errors):
    viewer = singles_viewer
    inside = np.zeros((32, 32, 32), dtype=np.uint8)
    inside[8:24] = 1
    viewer.add_labels(inside, name="t1 sample", scale=SCALE)
    viewer.add_labels(np.ones((32, 32, 16), dtype=np.uint8), name="thin", scale=SCALE)
    (data,) = _docks(viewer, "Data and wedge")
    data.set_tilt_range(None)
    data.set_single("t1")
    data.set_mask("t1 sample")
    assert data.add_to_dataset()
    data.set_single("t2")
    data.set_mask("thin")
    assert not data.add_to_dataset()
    assert "has shape (32, 32, 16) but the tomogram has shape (32, 32, 32)" in errors[-1]
    data.set_mask(None)
    assert data.add_to_dataset()
    assert [entry.mask_layer for entry in data.dataset] == ["t1 sample", None]
    assert data.dataset_section.texts()[0] == "'t1': no wedge, mask 't1 sample'"

    from tomorestore._napari._widgets.shared_state import snapshot_tomograms, training_input

    tomograms, mask = training_input(snapshot_tomograms(viewer, data.selection))
    assert mask is None  # each tomogram carries its own
    assert [t.name for t in tomograms] == ["t1", "t2"]
    np.testing.assert_array_equal(tomograms[0].mask, inside != 0)
    assert tomograms[1].mask is None and tomograms[1].wedge is None
    assert tomograms[0].voxel_size == SCALE

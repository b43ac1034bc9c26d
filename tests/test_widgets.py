"""The napari dock widgets build, validate selections and report bad input as notifications.

GUI tests: run under a virtual display, ``xvfb-run -a pytest tests/test_widgets.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from tomorestore._napari._widgets import DataWedgeWidget, RestoreWidget, TrainWidget  # noqa: E402
from tomorestore._napari._widgets.layer_helpers import (  # noqa: E402
    disagreement_name,
    preview_name,
    restored_name,
    source_name,
)
from tomorestore._napari._widgets.loss_plot import LossPlot  # noqa: E402
from tomorestore._napari._widgets.shared_state import session_for  # noqa: E402
from tomorestore._napari._widgets.wedge_view import (  # noqa: E402
    tilt_plane_spectrum,
    wedge_boundary_lines,
)

pytestmark = pytest.mark.gui

WIDGETS = {"Data and wedge": DataWedgeWidget, "Train": TrainWidget, "Restore": RestoreWidget}


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    """Messages of error notifications shown during the test."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    return shown


def _add(viewer, name: str, shape=(32, 32, 32), scale=(10.0, 10.0, 10.0), seed=0):
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return viewer.add_image(data, name=name, scale=scale)


@pytest.mark.parametrize("display_name", list(WIDGETS))
def test_every_widget_docks_from_the_plugin_menu(make_napari_viewer, display_name):
    viewer = make_napari_viewer()
    _add(viewer, "tomo")
    dock, widget = viewer.window.add_plugin_dock_widget("tomorestore", display_name)
    assert isinstance(widget, WIDGETS[display_name])
    assert widget.session is session_for(viewer)  # shared with the other widgets
    assert not getattr(widget, "running", False)


def test_widgets_build_on_an_empty_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    for cls in WIDGETS.values():
        widget = cls(viewer)
        viewer.window.add_dock_widget(widget)
    assert session_for(viewer).selection.layers == ()


def test_data_widget_picks_even_odd_and_tilt_range_from_metadata(make_napari_viewer):
    viewer = make_napari_viewer()
    _add(viewer, "sample full")
    for name in ("sample even", "sample odd"):
        layer = _add(viewer, name)
        layer.metadata["tilt_range"] = (-48.0, 62.0)
    widget = DataWedgeWidget(viewer)
    selection = widget.selection
    assert selection.mode == "halves"
    assert selection.layers == ("sample even", "sample odd")
    assert selection.tilt_range == (-48.0, 62.0)
    assert session_for(viewer).selection == selection
    widget.set_single("sample full")
    assert session_for(viewer).selection.layers == ("sample full",)
    widget.set_tilt_range(None)
    assert session_for(viewer).selection.tilt_range is None


def test_mismatched_halves_are_reported(make_napari_viewer, errors):
    viewer = make_napari_viewer()
    _add(viewer, "a even")
    _add(viewer, "a odd", shape=(32, 32, 24))
    _add(viewer, "b odd", scale=(12.0, 10.0, 10.0))
    widget = DataWedgeWidget(viewer)
    widget.set_halves("a even", "a odd")
    assert any("shape" in message for message in errors)
    errors.clear()
    widget.set_halves("a even", "b odd")
    assert any("scale" in message for message in errors)
    assert not widget.check()


def test_no_layer_is_reported(make_napari_viewer, errors):
    viewer = make_napari_viewer()
    data, train, restore = DataWedgeWidget(viewer), TrainWidget(viewer), RestoreWidget(viewer)
    assert not data.check()
    assert data.show_wedge() is None
    assert not train.start()
    assert not restore.start()
    assert len(errors) == 4
    assert any("Open" in message for message in errors)  # says what to do
    assert not train.running and not restore.running


def test_method_needing_halves_is_refused_for_one_tomogram(make_napari_viewer, errors):
    viewer = make_napari_viewer()
    _add(viewer, "tomo")
    data, train = DataWedgeWidget(viewer), TrainWidget(viewer)
    data.set_single("tomo")
    data.set_tilt_range(None)
    assert train.method_usable() == {"n2v": True, "n2n": True, "dewedge": False, "ei": False}
    assert train.method == "n2v"
    train.set_parameters(method="dewedge", steps=2)  # a script may force a disabled entry
    assert train.method == "dewedge"
    assert not train.start()
    assert "even/odd" in errors[-1] and "'Even/odd halves'" in errors[-1]  # napari advice
    assert not train.running
    data.set_tilt_range(-60, 60)
    assert train.method_usable()["ei"]


def test_halves_enable_every_method_with_a_wedge(make_napari_viewer):
    viewer = make_napari_viewer()
    _add(viewer, "x even")
    _add(viewer, "x odd", seed=1)
    data, train = DataWedgeWidget(viewer), TrainWidget(viewer)
    data.set_halves("x even", "x odd")
    data.set_tilt_range(-60, 60)
    assert all(train.method_usable().values())
    data.set_tilt_range(None)
    usable = train.method_usable()
    assert not usable["dewedge"] and usable["n2n"]


def test_method_defaults_fill_the_controls(make_napari_viewer):
    from tomorestore.methods import METHODS

    viewer = make_napari_viewer()
    train = TrainWidget(viewer)
    for name, cls in METHODS.items():
        train.set_parameters(method=name)
        form = train.form
        assert form.main.steps.value == cls.default_steps
        assert form.training.batch_size.value == cls.default_batch_size
        assert form.training.patch_size.value == cls.default_patch_size
        assert form.training.learning_rate.value == pytest.approx(cls.default_learning_rate)
        assert form.params.model is cls.params_type  # its parameters under Advanced
    assert train.form.main.device.choices[0] == "auto"
    assert "cpu" in train.form.main.device.choices


def test_train_controls_take_bounds_defaults_and_help_from_the_configs(make_napari_viewer):
    from tomorestore.models.config import NetworkConfig
    from tomorestore.training.config import TrainConfig

    train = TrainWidget(make_napari_viewer())
    fields = TrainConfig.model_fields
    batch = train.form.training.batch_size
    assert (batch.min, batch.max) == (1, 512)  # TrainConfig: ge=1, le=512
    assert batch.tooltip == fields["batch_size"].description
    assert train.form.training.learning_rate.min > 0  # gt=0
    assert train.form.training.validate_every.value == fields["validate_every"].default
    assert train.form.training.fast.value is fields["fast"].default
    depth = train.form.network.depth
    assert (depth.number.min, depth.number.max) == (1, 5)  # NetworkConfig: ge=1, le=5
    assert depth.value is None  # "auto" until set
    assert depth.tooltip == NetworkConfig.model_fields["depth"].description


def test_show_wedge_draws_spectrum_and_outline(make_napari_viewer):
    viewer = make_napari_viewer()
    tomo = _add(viewer, "tomo")
    data = DataWedgeWidget(viewer)
    data.set_single("tomo")
    data.set_tilt_range(-50, 40)
    spectrum, outline = data.show_wedge()
    assert spectrum.name == "tomo wedge spectrum" and outline.name == "tomo wedge outline"
    assert spectrum.data.shape == (32, 32)
    assert len(outline.data) == 2
    # beside the tomogram, as tall as its Y extent
    assert spectrum.translate[1] > tomo.translate[2] + 32 * tomo.scale[2]
    assert spectrum.scale[0] * 32 == pytest.approx(32 * tomo.scale[1])
    data.show_wedge()  # again: replaced, not duplicated
    assert sum(layer.name.endswith("wedge spectrum") for layer in viewer.layers) == 1


@pytest.mark.parametrize("tilt_axis", ["Y", "X"])
def test_wedge_outline_bounds_the_measured_region_of_the_core(tilt_axis):
    """Points just inside the drawn sector are measured by MissingWedge, just outside not.

    The drawn plane is the one normal to the tilt axis: (k_z, k_x) for Y, (k_z, k_y) for X.
    """
    import torch

    from tomorestore.physics import MissingWedge

    n = 64
    tilt_range = (-48.0, 62.0)
    wedge = MissingWedge(*tilt_range, tilt_axis=tilt_axis)
    if tilt_axis == "Y":
        mask = wedge.mask((n, 1, n))[:, 0, :]  # the (k_z, k_x) plane
    else:
        mask = wedge.mask((n, n, 1))[:, :, 0]  # the (k_z, k_y) plane
    mask = torch.fft.fftshift(mask).numpy()
    centre = np.array([n // 2, n // 2], dtype=float)
    for line, inside_sign in zip(wedge_boundary_lines((n, n), tilt_range), (+1, -1), strict=True):
        direction = (line[1] - line[0]) / np.linalg.norm(line[1] - line[0])  # (sin t, cos t)
        # (cos t, -sin t) turns towards larger angles: inside for tilt_min, outside for max
        normal = np.array([direction[1], -direction[0]]) * inside_sign
        for radius in (10, 20, 28):
            for side in (+1, -1):
                point = centre + side * radius * direction
                inside = np.round(point + 3 * normal * side).astype(int)
                outside = np.round(point - 3 * normal * side).astype(int)
                assert mask[tuple(inside)] == 1, (line, radius, side)
                assert mask[tuple(outside)] == 0, (line, radius, side)


def test_spectrum_shows_the_missing_wedge_of_wedge_filtered_noise():
    import torch

    from tomorestore.physics import MissingWedge

    wedge = MissingWedge(-45.0, 45.0)
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((32, 48, 32)))
    volume = wedge.apply(noise.float()).numpy()
    spectrum = tilt_plane_spectrum(volume, "Y")
    assert spectrum.shape == (32, 32)
    # along k_x (row n//2, measured) strong; along k_z (column n//2, missing) weak
    measured = spectrum[16, 20:30].mean()
    missing = spectrum[20:30, 16].mean()
    assert measured > 5 * missing
    assert tilt_plane_spectrum(volume, "X").shape == (32, 48)


def test_show_wedge_for_tilt_axis_x_uses_the_zy_plane(make_napari_viewer):
    import torch

    from tomorestore.physics import MissingWedge

    viewer = make_napari_viewer()
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((32, 40, 24)))
    volume = MissingWedge(-45.0, 45.0, tilt_axis="X").apply(noise.float()).numpy()
    viewer.add_image(volume, name="lamella")
    data = DataWedgeWidget(viewer)
    data.set_tilt_range(-45, 45, tilt_axis="X")
    spectrum, _ = data.show_wedge()
    assert spectrum.data.shape == (32, 40)  # (k_z, k_y)
    centre = (16, 20)
    measured = spectrum.data[centre[0], 24:36].mean()  # along k_y
    missing = spectrum.data[20:30, centre[1]].mean()  # along k_z
    assert measured > 5 * missing
    assert spectrum.metadata["tomorestore"]["wedge"]["tilt_axis"] == "X"


def test_output_names():
    assert source_name(["tomo even", "tomo odd"]) == "tomo"
    assert source_name(["even.mrc", "odd.mrc"]) == "even.mrc"
    assert source_name(["tomo"]) == "tomo"
    assert restored_name("tomo", "n2v") == "tomo restored (n2v)"
    assert disagreement_name("tomo", "n2n") == "tomo disagreement (n2n)"
    assert preview_name("tomo") == "tomo preview"


def test_loss_plot_collects_and_paints(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(300, 160)
    plot.grab()  # paints the empty state
    plot.clear(total_steps=10)
    for step, loss in enumerate([1.0, 0.5, float("nan"), 0.3], start=1):
        plot.add_loss(step, loss)
    plot.add_validation(4, 0.4)
    assert [s for s, _ in plot.train] == [1, 2, 4]  # the NaN is skipped
    assert plot.validation == [(4, 0.4)]
    image = plot.grab().toImage()
    assert image.width() == 300

"""The "Data and wedge" layer choosers: magicgui layer widgets over the widget's own viewer.

GUI tests: ``xvfb-run -a pytest tests/test_widget_layers.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from tomorestore._napari._widgets import DataWedgeWidget  # noqa: E402
from tomorestore._napari._widgets.shared_state import session_for  # noqa: E402
from tomorestore.errors import InputError  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    """Messages of error notifications shown during the test."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    return shown


def _add(viewer, name: str, shape=(32, 32, 32)):
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return viewer.add_image(data, name=name)


def test_choosers_are_magicgui_layer_widgets_of_their_own_viewer(make_napari_viewer):
    from magicgui.widgets import ComboBox
    from napari.layers import Image, Labels

    first, second = make_napari_viewer(), make_napari_viewer()
    tomo = _add(first, "tomo")
    _add(first, "flat", shape=(32, 32))  # 2D: not a tomogram
    _add(second, "elsewhere")  # the current viewer, but not this widget's
    mask = first.add_labels(np.ones((32, 32, 32), np.uint8), name="cells")
    data = DataWedgeWidget(first)  # created standalone, not docked
    assert isinstance(data.tomogram.widget, ComboBox)
    assert data.tomogram.widget.annotation is Image
    assert data.tomogram.widget.choices == (tomo,)
    assert data.mask.widget.choices == (None, mask)  # optional: "(none)" first
    assert data.mask.layer is None and data.selection.mask_layer is None
    data.set_mask("cells")
    assert data.selection.mask_layer == "cells"
    assert isinstance(data.mask.layer, Labels)
    with pytest.raises(InputError, match="no layer 'elsewhere'"):
        data.set_single("elsewhere")


def test_choices_follow_the_layer_list_when_created_directly(make_napari_viewer, errors):
    viewer = make_napari_viewer()
    _add(viewer, "cell even")
    _add(viewer, "cell odd")
    data = DataWedgeWidget(viewer)
    assert data.selection.layers == ("cell even", "cell odd")
    viewer.layers["cell odd"].name = "cell odd v2"  # renamed: still the chosen layer
    assert data.selection.layers == ("cell even", "cell odd v2")
    assert session_for(viewer).selection.layers == ("cell even", "cell odd v2")
    _add(viewer, "new even")
    assert "new even" in [layer.name for layer in data.even.widget.choices]
    assert data.even.name == "cell even"  # an added layer does not change the choice
    viewer.layers.remove("cell even")  # gone: the next layer named like an even half
    assert data.even.name == "new even"
    viewer.layers.remove("cell odd v2")  # no odd left: an invalid pair, shown in the panel
    assert data.selection.layers[1] != "cell odd v2"
    assert data.summary_label.text().startswith("⚠")
    assert errors == []  # layer-list changes do not pop up notifications


@pytest.mark.parametrize("docked", [True, False])
def test_layers_added_later_are_offered_with_their_tilt_range(make_napari_viewer, docked):
    viewer = make_napari_viewer()
    if docked:
        _, data = viewer.window.add_plugin_dock_widget("tomorestore", "Data and wedge")
    else:
        data = DataWedgeWidget(viewer)
    assert data.selection.layers == ()
    layer = viewer.add_image(
        np.zeros((32, 32, 32), np.float32), name="later", metadata={"tilt_range": (-50, 55)}
    )
    assert data.tomogram.widget.choices == (layer,)
    assert data.selection.layers == ("later",)
    assert data.selection.tilt_range == (-50.0, 55.0)  # from the new layer's metadata


def test_tilt_range_and_axis_from_the_wedge_config(make_napari_viewer):
    from tomorestore.training.config import WedgeConfig

    viewer = make_napari_viewer()
    _add(viewer, "tomo")
    data = DataWedgeWidget(viewer)
    assert data.wedge_form.tilt_axis.choices == ("Y", "X")  # WedgeConfig's Literal
    assert data.wedge_form.tilt_min.tooltip == WedgeConfig.model_fields["tilt_min"].description
    assert -90 < data.wedge_form.tilt_min.min < -89  # gt=-90
    data.set_tilt_range(-48, 62, tilt_axis="x")
    selection = data.selection
    assert selection.tilt_range == (-48.0, 62.0) and selection.tilt_axis == "X"
    assert selection.wedge == {"tilt_min": -48.0, "tilt_max": 62.0, "tilt_axis": "X"}
    with pytest.raises(InputError, match="tilt"):
        data.set_tilt_range(-60, 60, tilt_axis="Z")
    with pytest.raises(InputError, match="tilt"):
        data.set_tilt_range(-95, 60)
